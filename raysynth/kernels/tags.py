"""Integer kind tags and table column indices shared by the compiler (host) and the kernels.

Kernels dispatch with ``if kind == SPHERE: ...`` on these module-level integers, which Numba
freezes as compile-time constants. Every table layout of :class:`raysynth.compile.SceneArrays`
is spelled out here, so host and kernel code cannot disagree.
"""

# ---- primitive kinds (prim_info[:, PRIM_KIND]) -------------------------------------------
SPHERE = 0     # unit sphere at the origin (object space)
BOX = 1        # [-1, 1]^3
QUAD = 2       # [-1, 1]^2 in z = 0, front +z
DISK = 3       # unit disk in z = 0, front +z
CYLINDER = 4   # radius 1, z in [-1, 1], optional caps
TRIANGLE = 5   # triangle (world space; object space when it belongs to an instanced mesh)
N_ANALYTIC = 5
INSTANCE = 6   # a mesh instance: a bottom-level BVH in object space (top level only)

# prim_info (P, 3) int32 columns
PRIM_KIND = 0    # one of the kinds above
PRIM_INDEX = 1   # row of shape_xform/shape_param (analytic), of tri_* (triangle), of inst_* (instance)
PRIM_OBJECT = 2  # row of obj_info (instance id = object + 1); -1 for the triangles of an
                 # instanced mesh (shared by its instances: the object comes from inst_info)

# shape_xform (S, 24) float32: object->world 3x4 row-major, then world->object 3x4
XF_TO_WORLD = 0
XF_TO_OBJECT = 12

# shape_param (S, SP_COLUMNS) float32 columns
SP_CAPS = 0        # cylinder: 1.0 when capped
SP_AREA = 1        # surface area of the canonical (object-space) shape
SP_DET = 2         # |det| of the object->world linear part
SP_FACES = 4       # face f (0..5, the unit box's faces; 5 = +z, a quad's or disk's normal) at
                   # SP_FACES + 4 f: its world normal (x, y, z, unit) and the length of the
                   # unnormalized one (area stretch): compile._face_normals
SP_COLUMNS = SP_FACES + 4 * 6
FACE_PLUS_Z = 5

# ---- objects ------------------------------------------------------------------------------
# obj_info (O, 4) int32 columns
OBJ_MATERIAL = 0
OBJ_CLASS = 1
OBJ_LIGHT = 2      # row of light_info, or -1 when the object does not emit
OBJ_SMOOTH = 3     # 1: interpolate vertex normals (meshes that have them)
# obj_xform (O, 12) float32: the user's world->object 3x4 (object-space texture coordinates)

# ---- mesh instances (two-level BVH) -------------------------------------------------------
# inst_info (I, 8) int32 columns; inst_xform (I, 24) float32 as shape_xform (the user transform)
INST_ROOT = 0       # record of bvh_boxes / bvh_links that is the root of the mesh's bottom-level BVH
INST_OBJECT = 1     # row of obj_info
INST_MIRROR = 2     # 1 when the transform has a negative determinant (flips the winding normal)
INST_FIRST_TRI = 3  # host side: first row of the mesh's object-space triangles in tri_*
INST_TRI_COUNT = 4  # host side: number of triangles of the mesh
INST_MESH = 5       # host side: index of the shared mesh (instances of one mesh share it)
INST_COLUMNS = 8

# ---- materials ----------------------------------------------------------------------------
DIFFUSE = 0
CONDUCTOR = 1
DIELECTRIC = 2
EMISSIVE = 3

# mat_params (M, 16) float32 columns
MAT_KIND = 0            # material kind as a float (exact small integer)
MAT_COLOR = 1           # 1..3: albedo (diffuse, emissive base), F0 (conductor), tint (dielectric)
MAT_COLOR_B = 4         # 4..6: checker odd-cell colour
MAT_CHECKER_SCALE = 7   # cells per object-space unit; 0 = no checker
MAT_ROUGHNESS = 8       # GGX alpha
MAT_IOR = 9             # index of refraction
MAT_EMISSION = 10       # 10..12: emitted radiance (emissive)
MAT_TWO_SIDED = 13      # emissive: 1.0 = emits from both sides
MAT_TEXTURE = 14        # diffuse: row of tex_info (image or noise), as a float; -1 = none
MAT_COLUMNS = 16

# ---- textures (kernels/textures.py) -------------------------------------------------------
TEX_IMAGE = 1            # texels looked up at the hit's uv (bilinear)
TEX_NOISE_VALUE = 2      # fBm of value noise at the object-space hit point
TEX_NOISE_GRADIENT = 3   # fBm of gradient (Perlin) noise at the object-space hit point
WRAP_REPEAT = 0
WRAP_CLAMP = 1
WRAP_MIRROR = 2
WRAP_ENVIRONMENT = 3     # environment maps: repeat in u, clamp in v

# tex_info (N, 8) int32 columns
TI_KIND = 0       # TEX_* above
TI_OFFSET = 1     # image: index in texels of the top-left texel's red value
TI_WIDTH = 2      # image: texels per row
TI_HEIGHT = 3     # image: rows
TI_WRAP = 4       # image: WRAP_* for uv outside [0, 1]
TI_OCTAVES = 5    # noise: fBm octaves
TI_SEED_LO = 6    # noise: low 32 bits of the seed
TI_SEED_HI = 7    # noise: high 32 bits of the seed
TI_COLUMNS = 8

# tex_params (N, 8) float32 columns
TP_SCALE = 0      # image: 0..1 uv scale (u, v); noise: 0 = lattice cells per object unit
TP_OFFSET = 2     # image: 2..3 uv offset, uv' = uv * scale + offset
TP_LACUNARITY = 4 # noise: frequency ratio between octaves
TP_GAIN = 5       # noise: amplitude ratio between octaves
TP_COLUMNS = 8
# texels (K,) float32: linear RGB triples of every image, each row-major from its top row
# tri_uvs (T, 6) float32: uv of the three corners of each triangle (rows of tri_geom); (0, 6)
#     when the scene has no image texture
# tri_material (T,) int32: material row of each triangle (OBJ usemtl), -1 = the object's;
#     (0,) when no mesh uses its MTL materials

# ---- lights -------------------------------------------------------------------------------
LIGHT_SHAPE = 0        # emissive analytic shape
LIGHT_MESH = 1         # emissive triangle mesh
LIGHT_POINT = 2
LIGHT_DIRECTIONAL = 3
LIGHT_ENVIRONMENT = 4  # environment or sky (see env)

# light_info (L, 4) int32 columns
LI_KIND = 0
LI_REF = 1       # shape: prim index; mesh: first triangle
LI_COUNT = 2     # mesh: triangle count
LI_CDF = 3       # mesh: offset into light_tri_cdf

# light_params (L, 12) float32 columns
LP_RADIANCE = 0    # 0..2: radiance (area, directional disc), intensity (point)
LP_VECTOR = 3      # 3..5: position (point), unit direction towards the light (directional)
LP_COS_MAX = 6     # directional: cosine of the angular radius (1 = delta)
LP_TWO_SIDED = 7   # area lights
LP_AREA = 8        # mesh lights: total world-space area
LP_COLUMNS = 12

# env (16,) float32
ENV_NONE = 0
ENV_CONSTANT = 1
ENV_SKY = 2
ENV_IMAGE = 3      # equirectangular image (see kernels/textures.environment_uv)
ENV_KIND = 0
ENV_LIGHT = 1      # row in the light tables (-1 when none)
ENV_COLOR = 2      # 2..4 constant radiance, or zenith for a sky
ENV_HORIZON = 5    # 5..7
ENV_GROUND = 8     # 8..10
ENV_UP = 11        # 11..13
ENV_FRONT = 5      # image: 5..7 unit direction of the image centre (u = v = 1/2)
ENV_RIGHT = 8      # image: 8..10 unit direction of u = 3/4 on the horizon
ENV_TEXTURE = 14   # image: row of tex_info; ENV_COLOR is then a tint
ENV_COLUMNS = 16

# ---- camera (24,) float32 -----------------------------------------------------------------
CAM_POS = 0         # 0..2 centre of projection (world)
CAM_RIGHT = 3       # 3..5 camera +x in world (OpenCV: right)
CAM_DOWN = 6        # 6..8 camera +y in world (down)
CAM_FORWARD = 9     # 9..11 camera +z in world (optical axis)
CAM_FX = 12
CAM_FY = 13
CAM_CX = 14
CAM_CY = 15
CAM_APERTURE = 16   # thin-lens aperture radius (0 = pinhole)
CAM_FOCUS = 17      # z-distance of the focus plane
CAM_WIDTH = 18
CAM_HEIGHT = 19
CAM_COLUMNS = 24

# ---- settings (8,) int64 ------------------------------------------------------------------
SET_SPP = 0
SET_MAX_DEPTH = 1
SET_RR_DEPTH = 2
SET_SEED = 3
SET_COLUMNS = 8

# ---- traversal -----------------------------------------------------------------------------
STACK_SIZE = 160    # per-ray traversal stack entries (<= 7 per wide level + 8: 21 levels; checked by compile)
NO_HIT = -1
