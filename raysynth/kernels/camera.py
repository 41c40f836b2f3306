"""Camera rays (OpenCV pinhole model with an optional thin lens). Target-free.

Pixel coordinates: x to the right, y down, pixel (i, j) covers [j, j+1) x [i, i+1), so its centre
is (j + 0.5, i + 0.5). A pixel point (x, y) maps to the camera-space direction
((x - cx) / fx, (y - cy) / fy, 1).
"""
from .._jit import kernel
from .sampling import concentric_disk
from .tags import CAM_APERTURE, CAM_CX, CAM_CY, CAM_DOWN, CAM_FOCUS, CAM_FORWARD, CAM_FX, CAM_FY, CAM_POS, CAM_RIGHT
from .vecmath import ONE, ZERO, add, normalize, scale, vec_at


@kernel
def camera_to_world(cam, v):
    """Rotate a camera-space vector (x right, y down, z forward) into world space."""
    right = vec_at(cam, CAM_RIGHT)
    down = vec_at(cam, CAM_DOWN)
    forward = vec_at(cam, CAM_FORWARD)
    return add(add(scale(right, v[0]), scale(down, v[1])), scale(forward, v[2]))


@kernel
def camera_ray(cam, x, y, lens_u1, lens_u2):
    """World-space ray (origin, unit direction) through pixel point (x, y).

    With a thin lens (aperture > 0) the origin is a point on the lens disk chosen by
    (lens_u1, lens_u2), and every ray through (x, y) meets at the focus plane z = focus.
    """
    pos = vec_at(cam, CAM_POS)
    dx = (x - cam[CAM_CX]) / cam[CAM_FX]
    dy = (y - cam[CAM_CY]) / cam[CAM_FY]
    aperture = cam[CAM_APERTURE]
    if aperture <= ZERO:
        return pos, normalize(camera_to_world(cam, (dx, dy, ONE)))
    lx, ly = concentric_disk(lens_u1, lens_u2)
    lx *= aperture
    ly *= aperture
    focus = cam[CAM_FOCUS]
    d_cam = (dx * focus - lx, dy * focus - ly, focus)
    origin = add(pos, camera_to_world(cam, (lx, ly, ZERO)))
    return origin, normalize(camera_to_world(cam, d_cam))
