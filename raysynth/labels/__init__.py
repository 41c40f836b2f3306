"""Annotations taken from the ray hits: masks, boxes, visibility, poses, keypoints, exports.

Data flow
---------
``render()`` layers (instance, coverage, depth, ...) + the amodal pass (``amodal.py``: one extra
pass over the BVH that records every object each pixel-centre ray crosses) + exact projective
geometry (``geometry.py``) -> one **labels record** per image (``annotate.py``), written as
``labels.json`` next to the image's layers. Every export (``coco.py``, ``yolo.py``, ``bop.py``)
and the pictures (``raysynth show``) read only labels records and layer files, so shards merged
from many machines export exactly like one run.

labels.json (one image)
-----------------------
::

    {
      "image": {"width": W, "height": H, "K": 3x3, "world_to_camera": 4x4 (OpenCV axes),
                "spp": int, "seed": int, "rgb": "rgb.png"},
      "categories": [{"id": 1, "name": "..."}, ...],      # every class of the scene, id > 0
      "objects": [                                         # one per scene object
        {"instance_id": int (>= 1, the value in instance.png), "class_id": int (0 = none),
         "class_name": str | null, "name": str | null, "type": "sphere" | ... | "mesh",
         "annotated": bool,              # false for class 0 / distractors: no export entry
         "visible_pixels": int,          # pixels whose centre ray first hits the object
         "amodal_pixels": int,           # pixels whose centre ray hits it anywhere
         "visibility": float,            # visible / amodal (0 when amodal is 0)
         "edge_pixels": int,             # visible pixels whose samples also saw something else
         "mask_visible": RLE, "mask_amodal": RLE,        # COCO compressed RLE (rle.py)
         "bbox_visible": [x, y, w, h],   # tight box of mask_visible, pixel units ([0,0,0,0] if empty)
         "bbox_amodal": [x, y, w, h],    # exact projection of the whole object, clipped to the image
         "bbox_amodal_unclipped": [x, y, w, h] | null,   # null if the object crosses the camera plane
         "truncated": bool,              # the projection extends beyond the image
         "in_front": bool,               # some part of the object is in front of the camera
         "pose": {"R": 3x3, "t": [3], "scale": [3]},     # camera-from-object, OpenCV axes:
                                          # x_cam = R @ (scale * x_obj) + t   (scale may be negative-free)
         "object_to_world": 4x4,
         "bbox_3d": {"object": [[min xyz], [max xyz]],   # object-space bounds
                     "world": 8x3, "camera": 8x3, "image": 8x2},   # corner i = (bit2 x, bit1 y, bit0 z)
         "keypoints": {"object": Kx3, "world": Kx3, "image": Kx3},   # image rows [x, y, v], COCO v:
                                          # 0 outside the image or behind the camera, 1 occluded, 2 visible
         "parts": [{"part_id", "name", "visible_pixels", "mask_visible": RLE, "bbox_visible"}]}
                                          # only meshes with several named parts (OBJ groups)
      ]
    }

Pixel conventions: pixel (x, y) covers [x, x+1) x [y, y+1); its centre is (x + 0.5, y + 0.5);
boxes are [x, y, w, h] in those continuous coordinates (COCO), so a one-pixel mask at (3, 4) has
the box [3, 4, 1, 1].
"""
