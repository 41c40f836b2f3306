"""raysynth: a Numba path tracer that renders labelled synthetic data for computer vision.

Public API::

    import raysynth
    layers = raysynth.render("scenes/cornell_box.json", spp=16)
    layers["rgb"], layers["depth"], layers["instance"], layers["meta"]
"""
__version__ = "0.1.0"

from .errors import RaysynthError, SceneError  # noqa: E402
from .raycast import RayCaster  # noqa: E402
from .render import LAYERS, load_scene, render  # noqa: E402

__all__ = ["render", "RayCaster", "load_scene", "LAYERS", "RaysynthError", "SceneError", "__version__"]
