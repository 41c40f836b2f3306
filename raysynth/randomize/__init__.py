"""Domain randomization: configs that describe a distribution of scenes, and a sampler.

::

    from raysynth.randomize import load_config, sample_scene, derive_seed
    cfg = load_config("scenes/random_shapes.json")
    scene = sample_scene(cfg, derive_seed(dataset_seed=7, index=0))   # a plain scene dict
    layers = raysynth.render(scene)

- :mod:`.config`: :class:`RandomizerConfig` (pydantic, JSON) and :func:`load_config`.
- :mod:`.placement`: convex colliders, a GJK distance and non-overlapping ground/volume placement.
- :mod:`.sample`: :func:`derive_seed` and :func:`sample_scene` (deterministic per seed).
"""
from .config import RandomizerConfig, class_names, load_config
from .placement import Collider, gjk_distance
from .sample import derive_seed, sample_scene

__all__ = ["RandomizerConfig", "load_config", "class_names", "sample_scene", "derive_seed", "Collider", "gjk_distance"]
