# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin wrapper over fastconv's C kernels (csrc/fastconv.h).

The Python frontend (fastconv.functional) validates every argument before calling here: every
array is C-contiguous and of one float dtype (float32 or float64), every size is consistent.
This module only converts: it allocates the outputs with NumPy in the input's dtype and calls
the C kernel with the GIL released.  Memoryviews are const, so read-only arrays work.
Zero-size arrays are fine: the C kernels never dereference an array whose size is zero, and
&view[0, ...] of an empty view only computes its data pointer.
"""
cimport cython
from cython cimport floating
from libc.stdint cimport int64_t, uint8_t

import numpy as np

# The C declarations come from _kernels.pxd (same module name, included automatically).


cdef inline object _dtype(floating dummy):
    return np.float32 if floating is float else np.float64


# ------------------------------------------------------------------------------------------
# Runtime
# ------------------------------------------------------------------------------------------

def set_num_threads(int n):
    fc_set_num_threads(n)


def get_num_threads():
    return fc_get_num_threads()


def set_thread_num_threads(int n):
    fc_set_thread_num_threads(n)


def get_thread_num_threads():
    return fc_get_thread_num_threads()


def has_openmp():
    return bool(fc_has_openmp())


def set_isa(name):
    """Return 0 on success, -1 for an unknown name, -2 if the CPU lacks the instructions."""
    cdef bytes b = str(name).encode("ascii", "replace")
    return fc_set_isa(b)


def get_isa():
    return fc_get_isa().decode("ascii")


def isa_supported(name):
    cdef bytes b = str(name).encode("ascii", "replace")
    return bool(fc_isa_supported(b))


def isa_compiled(name):
    cdef bytes b = str(name).encode("ascii", "replace")
    return bool(fc_isa_compiled(b))


def isa_cpu_has(name):
    cdef bytes b = str(name).encode("ascii", "replace")
    return bool(fc_isa_cpu_has(b))


def build_info():
    """(compiler, flags) the C kernels were built with."""
    return (fc_build_compiler().decode("utf-8", "replace").strip(),
            fc_build_flags().decode("utf-8", "replace"))


_CACHE_SOURCES = ("default", "sysconf", "sysfs", "sysctl", "set")


def cache_sizes():
    """((l1d, l2, l3) in bytes, where they came from) as the GEMM blocking sees them."""
    cdef int64_t s[3]
    cdef int src = fc_cache_sizes(s)
    return (s[0], s[1], s[2]), _CACHE_SOURCES[src]


def set_cache_sizes(sizes=None):
    """Derive the GEMM blocking from these (l1d, l2, l3) sizes; None detects them again."""
    cdef int64_t s[3]
    s[0] = s[1] = s[2] = 0
    if sizes is not None:
        s[0], s[1], s[2] = sizes
    fc_set_cache_sizes(s)


def gemm_blocking(isa="", dtype=np.float32):
    """The GEMM blocking of a path ('' = the current one) as a dict, or None if unsupported."""
    cdef fc_gemm_blocking b
    cdef bytes name = str(isa).encode("ascii", "replace")
    cdef int size = np.dtype(dtype).itemsize
    if fc_get_gemm_blocking(name, size, &b) != 0:
        return None
    return {"mr": b.mr, "nr": b.nr, "kc": b.kc, "mc": b.mc, "nc": b.nc,
            "ukernel": b.ukernel.decode("ascii")}


def probe_fma(isa, int dtype_size, int nthreads, int64_t iters):
    """Floating-point operations done by the FMA probe (see fastconv.h), or -1."""
    cdef bytes name = str(isa).encode("ascii", "replace")
    cdef const char *cname = name
    cdef double r
    with nogil:
        r = fc_probe_fma(cname, dtype_size, nthreads, iters)
    return r


def probe_copy(const float[::1] src, float[::1] dst, int nthreads, int64_t reps):
    """Bytes moved by copying src into dst reps times (see fastconv.h)."""
    cdef int64_t n = min(src.shape[0], dst.shape[0])
    cdef double r
    with nogil:
        r = fc_probe_copy(&src[0], &dst[0], n, nthreads, reps)
    return r


def set_workspace_limit(int64_t nbytes):
    fc_set_workspace_limit(nbytes)


def get_workspace_limit():
    return fc_get_workspace_limit()


# ------------------------------------------------------------------------------------------
# GEMM
# ------------------------------------------------------------------------------------------

cdef inline int64_t _ld(int64_t rows, int64_t cols, Py_ssize_t row_stride, Py_ssize_t itemsize):
    """Leading dimension of a 2-D array with unit inner stride.  For one row (or none) the
    row stride is meaningless, so the row length is used."""
    if rows <= 1 or cols == 0:
        return cols if cols > 0 else 1
    return row_stride // itemsize


def gemm(bint trans_a, bint trans_b, double alpha, const floating[:, :] a,
         const floating[:, :] b, double beta, floating[:, :] c):
    """c = alpha * op(a) @ op(b) + beta * c, in place on c (c is not read if beta == 0).
    All three arrays are 2-D with unit inner stride; the row stride is the leading dimension."""
    cdef int64_t m = c.shape[0]
    cdef int64_t n = c.shape[1]
    cdef int64_t k = a.shape[0] if trans_a else a.shape[1]
    cdef int64_t lda = _ld(a.shape[0], a.shape[1], a.strides[0], sizeof(floating))
    cdef int64_t ldb = _ld(b.shape[0], b.shape[1], b.strides[0], sizeof(floating))
    cdef int64_t ldc = _ld(c.shape[0], c.shape[1], c.strides[0], sizeof(floating))
    cdef const floating *pa = &a[0, 0]
    cdef const floating *pb = &b[0, 0]
    cdef floating *pc = &c[0, 0]
    with nogil:
        if floating is float:
            fc_gemm_f32(trans_a, trans_b, m, n, k, <float>alpha, pa, lda, pb, ldb,
                        <float>beta, pc, ldc)
        else:
            fc_gemm_f64(trans_a, trans_b, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc)


# ------------------------------------------------------------------------------------------
# conv2d
# ------------------------------------------------------------------------------------------

cdef fc_conv2d_params _conv_params(Py_ssize_t *xs, Py_ssize_t *ws, int64_t stride_h,
                                   int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                   int64_t dil_h, int64_t dil_w, int64_t groups, int64_t out_h,
                                   int64_t out_w):
    cdef fc_conv2d_params p
    p.n = xs[0]; p.c_in = xs[1]; p.h = xs[2]; p.w = xs[3]
    p.c_out = ws[0]; p.kh = ws[2]; p.kw = ws[3]
    p.stride_h = stride_h; p.stride_w = stride_w; p.pad_h = pad_h; p.pad_w = pad_w
    p.dil_h = dil_h; p.dil_w = dil_w; p.groups = groups; p.out_h = out_h; p.out_w = out_w
    return p


def conv2d_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w, b_or_None,
                   int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                   int64_t dil_h, int64_t dil_w, int64_t groups, int64_t out_h, int64_t out_w):
    cdef fc_conv2d_params p = _conv_params(&x.shape[0], &w.shape[0], stride_h, stride_w, pad_h,
                                           pad_w, dil_h, dil_w, groups, out_h, out_w)
    cdef const floating[::1] bv
    cdef const floating *pb = NULL
    if b_or_None is not None:
        bv = b_or_None
        pb = &bv[0]
    y = np.empty((p.n, p.c_out, out_h, out_w), dtype=_dtype(<floating>0))
    cdef floating[:, :, :, ::1] yv = y
    cdef const floating *px = &x[0, 0, 0, 0]
    cdef const floating *pw = &w[0, 0, 0, 0]
    cdef floating *py = &yv[0, 0, 0, 0]
    with nogil:
        if floating is float:
            fc_conv2d_forward_f32(&p, px, pw, pb, py)
        else:
            fc_conv2d_forward_f64(&p, px, pw, pb, py)
    return y


def conv2d_backward(const floating[:, :, :, ::1] gy, const floating[:, :, :, ::1] x,
                    const floating[:, :, :, ::1] w, int64_t stride_h, int64_t stride_w,
                    int64_t pad_h, int64_t pad_w, int64_t dil_h, int64_t dil_w, int64_t groups,
                    bint need_gx, bint need_gw, bint need_gb):
    cdef fc_conv2d_params p = _conv_params(&x.shape[0], &w.shape[0], stride_h, stride_w, pad_h,
                                           pad_w, dil_h, dil_w, groups, gy.shape[2],
                                           gy.shape[3])
    dt = _dtype(<floating>0)
    gx = gw = gb = None
    cdef floating[:, :, :, ::1] gxv
    cdef floating[:, :, :, ::1] gwv
    cdef floating[::1] gbv
    cdef floating *pgx = NULL
    cdef floating *pgw = NULL
    cdef floating *pgb = NULL
    if need_gx:
        gx = np.empty((p.n, p.c_in, p.h, p.w), dtype=dt)
        gxv = gx
        pgx = &gxv[0, 0, 0, 0]
    if need_gw:
        gw = np.empty((w.shape[0], w.shape[1], w.shape[2], w.shape[3]), dtype=dt)
        gwv = gw
        pgw = &gwv[0, 0, 0, 0]
    if need_gb:
        gb = np.empty((p.c_out,), dtype=dt)
        gbv = gb
        pgb = &gbv[0]
    cdef const floating *pgy = &gy[0, 0, 0, 0]
    cdef const floating *px = &x[0, 0, 0, 0]
    cdef const floating *pw = &w[0, 0, 0, 0]
    with nogil:
        if floating is float:
            fc_conv2d_backward_f32(&p, pgy, px, pw, pgx, pgw, pgb)
        else:
            fc_conv2d_backward_f64(&p, pgy, px, pw, pgx, pgw, pgb)
    return gx, gw, gb


def conv2d_block_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
                         b_or_None, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                         int64_t pad_w, int64_t dil_h, int64_t dil_w, int64_t groups,
                         int64_t out_h, int64_t out_w, bint relu, int64_t pool):
    """(y, idx): the block's output and, with pool, the uint8 window positions."""
    cdef fc_conv2d_params p = _conv_params(&x.shape[0], &w.shape[0], stride_h, stride_w, pad_h,
                                           pad_w, dil_h, dil_w, groups, out_h, out_w)
    cdef fc_conv2d_block blk
    blk.relu = relu
    blk.pool = pool
    cdef int64_t k = pool if pool else 1
    cdef const floating[::1] bv
    cdef const floating *pb = NULL
    if b_or_None is not None:
        bv = b_or_None
        pb = &bv[0]
    y = np.empty((p.n, p.c_out, out_h // k, out_w // k), dtype=_dtype(<floating>0))
    idx = np.empty(y.shape, dtype=np.uint8) if pool else None
    cdef floating[:, :, :, ::1] yv = y
    cdef uint8_t[:, :, :, ::1] iv
    cdef uint8_t *pi = NULL
    if pool:
        iv = idx
        pi = &iv[0, 0, 0, 0]
    cdef const floating *px = &x[0, 0, 0, 0]
    cdef const floating *pw = &w[0, 0, 0, 0]
    cdef floating *py = &yv[0, 0, 0, 0]
    with nogil:
        if floating is float:
            fc_conv2d_block_forward_f32(&p, &blk, px, pw, pb, py, pi)
        else:
            fc_conv2d_block_forward_f64(&p, &blk, px, pw, pb, py, pi)
    return y, idx


def conv2d_block_backward(const floating[:, :, :, ::1] gy, const floating[:, :, :, ::1] y,
                          idx_or_None, const floating[:, :, :, ::1] x,
                          const floating[:, :, :, ::1] w, int64_t stride_h, int64_t stride_w,
                          int64_t pad_h, int64_t pad_w, int64_t dil_h, int64_t dil_w,
                          int64_t groups, int64_t out_h, int64_t out_w, bint relu,
                          int64_t pool, bint need_gx, bint need_gw, bint need_gb):
    cdef fc_conv2d_params p = _conv_params(&x.shape[0], &w.shape[0], stride_h, stride_w, pad_h,
                                           pad_w, dil_h, dil_w, groups, out_h, out_w)
    cdef fc_conv2d_block blk
    blk.relu = relu
    blk.pool = pool
    dt = _dtype(<floating>0)
    gx = gw = gb = None
    cdef floating[:, :, :, ::1] gxv
    cdef floating[:, :, :, ::1] gwv
    cdef floating[::1] gbv
    cdef const uint8_t[:, :, :, ::1] iv
    cdef floating *pgx = NULL
    cdef floating *pgw = NULL
    cdef floating *pgb = NULL
    cdef const uint8_t *pi = NULL
    if pool:
        iv = idx_or_None
        pi = &iv[0, 0, 0, 0]
    if need_gx:
        gx = np.empty((p.n, p.c_in, p.h, p.w), dtype=dt)
        gxv = gx
        pgx = &gxv[0, 0, 0, 0]
    if need_gw:
        gw = np.empty((w.shape[0], w.shape[1], w.shape[2], w.shape[3]), dtype=dt)
        gwv = gw
        pgw = &gwv[0, 0, 0, 0]
    if need_gb:
        gb = np.empty((p.c_out,), dtype=dt)
        gbv = gb
        pgb = &gbv[0]
    cdef const floating *pgy = &gy[0, 0, 0, 0]
    cdef const floating *py = &y[0, 0, 0, 0]
    cdef const floating *px = &x[0, 0, 0, 0]
    cdef const floating *pw = &w[0, 0, 0, 0]
    with nogil:
        if floating is float:
            fc_conv2d_block_backward_f32(&p, &blk, pgy, py, pi, px, pw, pgx, pgw, pgb)
        else:
            fc_conv2d_block_backward_f64(&p, &blk, pgy, py, pi, px, pw, pgx, pgw, pgb)
    return gx, gw, gb


def set_conv_winograd(int mode):
    """Set the Winograd mode (0 never, 1 cost model, 2 always, 3 cost model with F(4x4),
    4 F(4x4) always); returns the previous one, or -1 for another value."""
    return fc_set_conv_winograd(mode)


def get_conv_winograd():
    """The Winograd mode (see set_conv_winograd)."""
    return fc_get_conv_winograd()


# ------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------

def max_pool2d_forward(const floating[:, :, :, ::1] x, int64_t kh, int64_t kw, int64_t sh,
                       int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                       int64_t out_h, int64_t out_w, bint with_indices):
    cdef fc_pool2d_params p
    p.n = x.shape[0]; p.c = x.shape[1]; p.h = x.shape[2]; p.w = x.shape[3]
    p.kh = kh; p.kw = kw; p.stride_h = sh; p.stride_w = sw; p.pad_h = ph; p.pad_w = pw
    p.dil_h = dh; p.dil_w = dw; p.out_h = out_h; p.out_w = out_w; p.count_include_pad = 0
    y = np.empty((p.n, p.c, out_h, out_w), dtype=_dtype(<floating>0))
    cdef floating[:, :, :, ::1] yv = y
    idx = None
    cdef int64_t[:, :, :, ::1] iv
    cdef int64_t *pidx = NULL
    if with_indices:
        idx = np.empty((p.n, p.c, out_h, out_w), dtype=np.int64)
        iv = idx
        pidx = &iv[0, 0, 0, 0]
    cdef const floating *px = &x[0, 0, 0, 0]
    cdef floating *py = &yv[0, 0, 0, 0]
    with nogil:
        if floating is float:
            fc_max_pool2d_forward_f32(&p, px, py, pidx)
        else:
            fc_max_pool2d_forward_f64(&p, px, py, pidx)
    return y, idx


def max_pool2d_backward(const floating[:, :, :, ::1] gy, const int64_t[:, :, :, ::1] idx,
                        int64_t in_h, int64_t in_w):
    """Return (gx, n_bad); n_bad > 0 means some indices lay outside the input plane (they
    were skipped) and gx must be discarded."""
    cdef int64_t nc = gy.shape[0] * gy.shape[1]
    cdef int64_t out_h = gy.shape[2], out_w = gy.shape[3]
    gx = np.empty((gy.shape[0], gy.shape[1], in_h, in_w), dtype=_dtype(<floating>0))
    cdef floating[:, :, :, ::1] gxv = gx
    cdef const floating *pgy = &gy[0, 0, 0, 0]
    cdef const int64_t *pidx = &idx[0, 0, 0, 0]
    cdef floating *pgx = &gxv[0, 0, 0, 0]
    cdef int64_t bad
    with nogil:
        if floating is float:
            bad = fc_max_pool2d_backward_f32(nc, in_h, in_w, out_h, out_w, pgy, pidx, pgx)
        else:
            bad = fc_max_pool2d_backward_f64(nc, in_h, in_w, out_h, out_w, pgy, pidx, pgx)
    return gx, bad


def avg_pool2d_forward(const floating[:, :, :, ::1] x, int64_t kh, int64_t kw, int64_t sh,
                       int64_t sw, int64_t ph, int64_t pw, int64_t out_h, int64_t out_w,
                       bint count_include_pad):
    cdef fc_pool2d_params p
    p.n = x.shape[0]; p.c = x.shape[1]; p.h = x.shape[2]; p.w = x.shape[3]
    p.kh = kh; p.kw = kw; p.stride_h = sh; p.stride_w = sw; p.pad_h = ph; p.pad_w = pw
    p.dil_h = 1; p.dil_w = 1; p.out_h = out_h; p.out_w = out_w
    p.count_include_pad = 1 if count_include_pad else 0
    y = np.empty((p.n, p.c, out_h, out_w), dtype=_dtype(<floating>0))
    cdef floating[:, :, :, ::1] yv = y
    cdef const floating *px = &x[0, 0, 0, 0]
    cdef floating *py = &yv[0, 0, 0, 0]
    with nogil:
        if floating is float:
            fc_avg_pool2d_forward_f32(&p, px, py)
        else:
            fc_avg_pool2d_forward_f64(&p, px, py)
    return y


def avg_pool2d_backward(const floating[:, :, :, ::1] gy, int64_t in_h, int64_t in_w,
                        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                        bint count_include_pad):
    cdef fc_pool2d_params p
    p.n = gy.shape[0]; p.c = gy.shape[1]; p.h = in_h; p.w = in_w
    p.kh = kh; p.kw = kw; p.stride_h = sh; p.stride_w = sw; p.pad_h = ph; p.pad_w = pw
    p.dil_h = 1; p.dil_w = 1; p.out_h = gy.shape[2]; p.out_w = gy.shape[3]
    p.count_include_pad = 1 if count_include_pad else 0
    gx = np.empty((p.n, p.c, in_h, in_w), dtype=_dtype(<floating>0))
    cdef floating[:, :, :, ::1] gxv = gx
    cdef const floating *pgy = &gy[0, 0, 0, 0]
    cdef floating *pgx = &gxv[0, 0, 0, 0]
    with nogil:
        if floating is float:
            fc_avg_pool2d_backward_f32(&p, pgy, pgx)
        else:
            fc_avg_pool2d_backward_f64(&p, pgy, pgx)
    return gx


def global_avg_pool2d_forward(const floating[:, :, :, ::1] x):
    cdef int64_t nc = x.shape[0] * x.shape[1]
    cdef int64_t hw = x.shape[2] * x.shape[3]
    y = np.empty((x.shape[0], x.shape[1]), dtype=_dtype(<floating>0))
    cdef floating[:, ::1] yv = y
    cdef const floating *px = &x[0, 0, 0, 0]
    cdef floating *py = &yv[0, 0]
    with nogil:
        if floating is float:
            fc_global_avg_pool2d_forward_f32(nc, hw, px, py)
        else:
            fc_global_avg_pool2d_forward_f64(nc, hw, px, py)
    return y


def global_avg_pool2d_backward(const floating[:, ::1] gy, int64_t h, int64_t w):
    cdef int64_t nc = gy.shape[0] * gy.shape[1]
    cdef int64_t hw = h * w
    gx = np.empty((gy.shape[0], gy.shape[1], h, w), dtype=_dtype(<floating>0))
    cdef floating[:, :, :, ::1] gxv = gx
    cdef const floating *pgy = &gy[0, 0]
    cdef floating *pgx = &gxv[0, 0, 0, 0]
    with nogil:
        if floating is float:
            fc_global_avg_pool2d_backward_f32(nc, hw, pgy, pgx)
        else:
            fc_global_avg_pool2d_backward_f64(nc, hw, pgy, pgx)
    return gx


# ------------------------------------------------------------------------------------------
# Linear
# ------------------------------------------------------------------------------------------

def linear_forward(const floating[:, ::1] x, const floating[:, ::1] w, b_or_None,
                   bint relu=False):
    """y = x @ w.T + b, or with relu the linear block max(that, 0)."""
    cdef int64_t n = x.shape[0]
    cdef int64_t in_f = x.shape[1]
    cdef int64_t out_f = w.shape[0]
    cdef const floating[::1] bv
    cdef const floating *pb = NULL
    if b_or_None is not None:
        bv = b_or_None
        pb = &bv[0]
    y = np.empty((n, out_f), dtype=_dtype(<floating>0))
    cdef floating[:, ::1] yv = y
    cdef const floating *px = &x[0, 0]
    cdef const floating *pw = &w[0, 0]
    cdef floating *py = &yv[0, 0]
    with nogil:
        if floating is float:
            if relu:
                fc_linear_relu_forward_f32(n, in_f, out_f, px, pw, pb, py)
            else:
                fc_linear_forward_f32(n, in_f, out_f, px, pw, pb, py)
        else:
            if relu:
                fc_linear_relu_forward_f64(n, in_f, out_f, px, pw, pb, py)
            else:
                fc_linear_forward_f64(n, in_f, out_f, px, pw, pb, py)
    return y


def linear_backward(const floating[:, ::1] gy, const floating[:, ::1] x,
                    const floating[:, ::1] w, bint need_gx, bint need_gw, bint need_gb,
                    relu_output=None):
    """Gradients of linear; with relu_output (the linear block's output y), of the block."""
    cdef int64_t n = x.shape[0]
    cdef int64_t in_f = x.shape[1]
    cdef int64_t out_f = w.shape[0]
    dt = _dtype(<floating>0)
    gx = gw = gb = None
    cdef floating[:, ::1] gxv
    cdef floating[:, ::1] gwv
    cdef floating[::1] gbv
    cdef floating *pgx = NULL
    cdef floating *pgw = NULL
    cdef floating *pgb = NULL
    if need_gx:
        gx = np.empty((n, in_f), dtype=dt)
        gxv = gx
        pgx = &gxv[0, 0]
    if need_gw:
        gw = np.empty((out_f, in_f), dtype=dt)
        gwv = gw
        pgw = &gwv[0, 0]
    if need_gb:
        gb = np.empty((out_f,), dtype=dt)
        gbv = gb
        pgb = &gbv[0]
    cdef const floating *pgy = &gy[0, 0]
    cdef const floating *px = &x[0, 0]
    cdef const floating *pw = &w[0, 0]
    cdef const floating[:, ::1] yv
    cdef const floating *py = NULL
    if relu_output is not None:
        yv = relu_output
        py = &yv[0, 0]
    with nogil:
        if floating is float:
            if py != NULL:
                fc_linear_relu_backward_f32(n, in_f, out_f, pgy, py, px, pw, pgx, pgw, pgb)
            else:
                fc_linear_backward_f32(n, in_f, out_f, pgy, px, pw, pgx, pgw, pgb)
        else:
            if py != NULL:
                fc_linear_relu_backward_f64(n, in_f, out_f, pgy, py, px, pw, pgx, pgw, pgb)
            else:
                fc_linear_backward_f64(n, in_f, out_f, pgy, px, pw, pgx, pgw, pgb)
    return gx, gw, gb


# ------------------------------------------------------------------------------------------
# Elementwise and loss
# ------------------------------------------------------------------------------------------

def _relu_forward_flat(const floating[::1] x):
    cdef int64_t size = x.shape[0]
    y = np.empty((size,), dtype=_dtype(<floating>0))
    cdef floating[::1] yv = y
    cdef const floating *px = &x[0]
    cdef floating *py = &yv[0]
    with nogil:
        if floating is float:
            fc_relu_forward_f32(size, px, py)
        else:
            fc_relu_forward_f64(size, px, py)
    return y


def relu_forward(x):
    """y = max(x, 0) for a C-contiguous array of any shape."""
    return _relu_forward_flat(x.reshape(-1)).reshape(x.shape)


def _relu_backward_flat(const floating[::1] gy, const floating[::1] y):
    cdef int64_t size = gy.shape[0]
    gx = np.empty((size,), dtype=_dtype(<floating>0))
    cdef floating[::1] gxv = gx
    cdef const floating *pgy = &gy[0]
    cdef const floating *py = &y[0]
    cdef floating *pgx = &gxv[0]
    with nogil:
        if floating is float:
            fc_relu_backward_f32(size, pgy, py, pgx)
        else:
            fc_relu_backward_f64(size, pgy, py, pgx)
    return gx


def relu_backward(gy, y):
    """gx = 0 where y <= 0, else gy (NaN outputs pass gy); C-contiguous arrays of any (equal) shape."""
    return _relu_backward_flat(gy.reshape(-1), y.reshape(-1)).reshape(gy.shape)


def _sgd_update_flat(floating[::1] p, const floating[::1] g, double lr):
    cdef int64_t size = p.shape[0]
    if size == 0:
        return
    cdef floating *pp = &p[0]
    cdef const floating *pg = &g[0]
    with nogil:
        if floating is float:
            fc_sgd_update_f32(size, pp, pg, lr)
        else:
            fc_sgd_update_f64(size, pp, pg, lr)


def sgd_update_(p, g, double lr):
    """p -= lr * g in place, the product rounded to p's dtype first (NumPy's result); p and g
    C-contiguous, of one shape and dtype, p writable and not overlapping g."""
    _sgd_update_flat(p.reshape(-1), g.reshape(-1), lr)


def _softmax_rows(const floating[:, ::1] x, bint log):
    cdef int64_t rows = x.shape[0]
    cdef int64_t cols = x.shape[1]
    y = np.empty((rows, cols), dtype=_dtype(<floating>0))
    cdef floating[:, ::1] yv = y
    cdef const floating *px = &x[0, 0]
    cdef floating *py = &yv[0, 0]
    with nogil:
        if floating is float:
            if log:
                fc_log_softmax_f32(rows, cols, px, py)
            else:
                fc_softmax_f32(rows, cols, px, py)
        else:
            if log:
                fc_log_softmax_f64(rows, cols, px, py)
            else:
                fc_softmax_f64(rows, cols, px, py)
    return y


def softmax(x):
    """Row-wise softmax of a C-contiguous 2-D array."""
    return _softmax_rows(x, False)


def log_softmax(x):
    """Row-wise log-softmax of a C-contiguous 2-D array."""
    return _softmax_rows(x, True)


def cross_entropy_forward(const floating[:, ::1] logits, const int64_t[::1] target,
                          double label_smoothing, int reduction_code):
    """Return the (N,) losses for reduction_code 0 (none), else a 0-d array (1 mean, 2 sum)."""
    cdef int64_t n = logits.shape[0]
    cdef int64_t c = logits.shape[1]
    cdef int64_t n_out = n if reduction_code == FC_REDUCTION_NONE else 1
    out = np.empty((n_out,), dtype=_dtype(<floating>0))
    cdef floating[::1] ov = out
    cdef const floating *pl = &logits[0, 0]
    cdef const int64_t *pt = &target[0]
    cdef floating *po = &ov[0]
    with nogil:
        if floating is float:
            fc_cross_entropy_forward_f32(n, c, pl, pt, label_smoothing, reduction_code, po)
        else:
            fc_cross_entropy_forward_f64(n, c, pl, pt, label_smoothing, reduction_code, po)
    if reduction_code == FC_REDUCTION_NONE:
        return out
    return out.reshape(())


def cross_entropy_backward(const floating[:, ::1] logits, const int64_t[::1] target,
                           double label_smoothing, int reduction_code, grad_loss_array):
    """grad_loss_array: (N,) for reduction_code 0, else one value (0-d or 1-element)."""
    cdef int64_t n = logits.shape[0]
    cdef int64_t c = logits.shape[1]
    dt = _dtype(<floating>0)
    cdef const floating[::1] glv = np.ascontiguousarray(grad_loss_array, dtype=dt).reshape(-1)
    g = np.empty((n, c), dtype=dt)
    cdef floating[:, ::1] gv = g
    cdef const floating *pl = &logits[0, 0]
    cdef const int64_t *pt = &target[0]
    cdef const floating *pgl = &glv[0]
    cdef floating *pg = &gv[0, 0]
    with nogil:
        if floating is float:
            fc_cross_entropy_backward_f32(n, c, pl, pt, label_smoothing, reduction_code,
                                          pgl, pg)
        else:
            fc_cross_entropy_backward_f64(n, c, pl, pt, label_smoothing, reduction_code,
                                          pgl, pg)
    return g


# ------------------------------------------------------------------------------------------
# Normalisation, dropout and activations
# ------------------------------------------------------------------------------------------
# Optional per-channel vectors (gamma, beta) come as a C-contiguous 1-D array or None; a
# 1-element dummy stands in for None so that every memoryview is bound.

cdef enum:
    _BN = 0
    _LN = 1
    _GN = 2
    _BN_EVAL = 3


def _norm_forward(int op, const floating[:, :, ::1] x, int64_t groups, g_or_None, b_or_None,
                  double eps, mean_or_None=None, var_or_None=None):
    """(y, stats): the training-mode statistics and output of batch norm (op _BN, x (n, c, hw):
    stats (3, c) = mean, var, invstd), layer norm (_LN, x (rows, 1, d): stats (2, rows) =
    mean, rstd) or group norm (_GN, x (n, c, hw): stats (2, n * groups)); or batch norm with
    the given mean and var (_BN_EVAL; stats is None)."""
    cdef int64_t n = x.shape[0], c = x.shape[1], hw = x.shape[2]
    dt = _dtype(<floating>0)
    cdef const floating[::1] gv = g_or_None if g_or_None is not None else np.empty(1, dt)
    cdef const floating[::1] bv = b_or_None if b_or_None is not None else np.empty(1, dt)
    cdef const floating *pg = NULL
    if g_or_None is not None:
        pg = &gv[0]
    cdef const floating *pb = NULL
    if b_or_None is not None:
        pb = &bv[0]
    cdef int64_t ns = c if op == _BN or op == _BN_EVAL else (n if op == _LN else n * groups)
    y = np.empty((n, c, hw), dtype=dt)
    stats = np.empty((3 if op == _BN else 2, ns), dtype=dt)
    cdef const floating[::1] mv = mean_or_None if mean_or_None is not None else np.empty(1, dt)
    cdef const floating[::1] vv = var_or_None if var_or_None is not None else np.empty(1, dt)
    cdef floating[:, :, ::1] yv = y
    cdef floating[:, ::1] sv = stats
    cdef const floating *px = &x[0, 0, 0]
    cdef const floating *pm = &mv[0]
    cdef const floating *pv = &vv[0]
    cdef floating *py = &yv[0, 0, 0]
    cdef floating *ps = &sv[0, 0]
    with nogil:
        if floating is float:
            if op == _BN_EVAL:
                fc_batch_norm_forward_eval_f32(n, c, hw, px, pm, pv, pg, pb, eps, py)
            elif op == _BN:
                fc_batch_norm_forward_train_f32(n, c, hw, px, pg, pb, eps, py, ps, ps + ns,
                                                ps + 2 * ns)
            elif op == _LN:
                fc_layer_norm_forward_f32(n, hw, px, pg, pb, eps, py, ps, ps + ns)
            else:
                fc_group_norm_forward_f32(n, c, hw, groups, px, pg, pb, eps, py, ps, ps + ns)
        else:
            if op == _BN_EVAL:
                fc_batch_norm_forward_eval_f64(n, c, hw, px, pm, pv, pg, pb, eps, py)
            elif op == _BN:
                fc_batch_norm_forward_train_f64(n, c, hw, px, pg, pb, eps, py, ps, ps + ns,
                                                ps + 2 * ns)
            elif op == _LN:
                fc_layer_norm_forward_f64(n, hw, px, pg, pb, eps, py, ps, ps + ns)
            else:
                fc_group_norm_forward_f64(n, c, hw, groups, px, pg, pb, eps, py, ps, ps + ns)
    return y, (None if op == _BN_EVAL else stats)


cdef inline floating *_out_ptr(object a, floating[::1] view) noexcept:
    return NULL if a is None else &view[0]


def _norm_backward(int op, const floating[:, :, ::1] gy, const floating[:, :, ::1] x,
                   int64_t groups, g_or_None, const floating[::1] mean,
                   const floating[::1] scale, bint training, bint need_gx, bint need_gw,
                   bint need_gb):
    """(gx (n * c * hw,), gw, gb) of batch norm (_BN; scale = invstd), layer norm (_LN, x
    (rows, 1, d); scale = rstd) or group norm (_GN; scale = rstd)."""
    cdef int64_t n = x.shape[0], c = x.shape[1], hw = x.shape[2]
    cdef int64_t p_len = hw if op == _LN else c
    dt = _dtype(<floating>0)
    cdef const floating[::1] gv = g_or_None if g_or_None is not None else np.empty(1, dt)
    cdef const floating *pg = NULL
    if g_or_None is not None:
        pg = &gv[0]
    gx = np.empty(n * c * hw, dtype=dt) if need_gx else None
    gw = np.empty(p_len, dtype=dt) if need_gw else None
    gb = np.empty(p_len, dtype=dt) if need_gb else None
    cdef floating[::1] gxv = gx if gx is not None else np.empty(1, dt)
    cdef floating[::1] gwv = gw if gw is not None else np.empty(1, dt)
    cdef floating[::1] gbv = gb if gb is not None else np.empty(1, dt)
    cdef floating *pgx = _out_ptr(gx, gxv)
    cdef floating *pgw = _out_ptr(gw, gwv)
    cdef floating *pgb = _out_ptr(gb, gbv)
    cdef const floating *pgy = &gy[0, 0, 0]
    cdef const floating *px = &x[0, 0, 0]
    cdef const floating *pm = &mean[0]
    cdef const floating *pr = &scale[0]
    with nogil:
        if floating is float:
            if op == _BN:
                fc_batch_norm_backward_f32(n, c, hw, pgy, px, pg, pm, pr, training, pgx, pgw, pgb)
            elif op == _LN:
                fc_layer_norm_backward_f32(n, hw, pgy, px, pg, pm, pr, pgx, pgw, pgb)
            else:
                fc_group_norm_backward_f32(n, c, hw, groups, pgy, px, pg, pm, pr, pgx, pgw, pgb)
        else:
            if op == _BN:
                fc_batch_norm_backward_f64(n, c, hw, pgy, px, pg, pm, pr, training, pgx, pgw, pgb)
            elif op == _LN:
                fc_layer_norm_backward_f64(n, hw, pgy, px, pg, pm, pr, pgx, pgw, pgb)
            else:
                fc_group_norm_backward_f64(n, c, hw, groups, pgy, px, pg, pm, pr, pgx, pgw, pgb)
    return gx, gw, gb


def batch_norm_forward_train(x, g_or_None, b_or_None, double eps):
    """x (n, c, hw) -> (y, mean, var, invstd): batch statistics per channel."""
    y, stats = _norm_forward(_BN, x, 1, g_or_None, b_or_None, eps)
    return y, stats[0], stats[1], stats[2]


def batch_norm_forward_eval(x, mean, var, g_or_None, b_or_None, double eps):
    """x (n, c, hw) -> y, normalised with the given mean and var (c,)."""
    return _norm_forward(_BN_EVAL, x, 1, g_or_None, b_or_None, eps, mean, var)[0]


def batch_norm_backward(gy, x, g_or_None, mean, invstd, bint training, bint need_gx,
                        bint need_gw, bint need_gb):
    """gy, x (n, c, hw); mean, invstd (c,) -> (gx, gw, gb), each None unless asked for."""
    gx, gw, gb = _norm_backward(_BN, gy, x, 1, g_or_None, mean, invstd, training, need_gx,
                                need_gw, need_gb)
    return (None if gx is None else gx.reshape(x.shape)), gw, gb


def layer_norm_forward(x, g_or_None, b_or_None, double eps):
    """x (rows, d) -> (y, mean (rows,), rstd (rows,))."""
    y, stats = _norm_forward(_LN, x.reshape(x.shape[0], 1, x.shape[1]), 1, g_or_None,
                             b_or_None, eps)
    return y.reshape(x.shape), stats[0], stats[1]


def layer_norm_backward(gy, x, g_or_None, mean, rstd, bint need_gx, bint need_gw,
                        bint need_gb):
    """gy, x (rows, d); mean, rstd (rows,) -> (gx, gw (d,), gb (d,))."""
    shape3 = (x.shape[0], 1, x.shape[1])
    gx, gw, gb = _norm_backward(_LN, gy.reshape(shape3), x.reshape(shape3), 1, g_or_None, mean,
                                rstd, True, need_gx, need_gw, need_gb)
    return (None if gx is None else gx.reshape(x.shape)), gw, gb


def group_norm_forward(x, int64_t groups, g_or_None, b_or_None, double eps):
    """x (n, c, hw) -> (y, mean (n * groups,), rstd (n * groups,))."""
    y, stats = _norm_forward(_GN, x, groups, g_or_None, b_or_None, eps)
    return y, stats[0], stats[1]


def group_norm_backward(gy, x, int64_t groups, g_or_None, mean, rstd, bint need_gx,
                        bint need_gw, bint need_gb):
    """gy, x (n, c, hw); mean, rstd (n * groups,) -> (gx, gw (c,), gb (c,))."""
    gx, gw, gb = _norm_backward(_GN, gy, x, groups, g_or_None, mean, rstd, True, need_gx,
                                need_gw, need_gb)
    return (None if gx is None else gx.reshape(x.shape)), gw, gb


def _dropout_forward_flat(const floating[::1] x, uint64_t seed, uint32_t threshold,
                          double scale):
    cdef int64_t size = x.shape[0]
    y = np.empty((size,), dtype=_dtype(<floating>0))
    mask = np.empty((size,), dtype=np.bool_)
    cdef floating[::1] yv = y
    cdef uint8_t[::1] mv = mask.view(np.uint8)
    cdef const floating *px = &x[0]
    cdef floating *py = &yv[0]
    cdef uint8_t *pm = &mv[0]
    with nogil:
        if floating is float:
            fc_dropout_forward_f32(size, px, seed, threshold, scale, py, pm)
        else:
            fc_dropout_forward_f64(size, px, seed, threshold, scale, py, pm)
    return y, mask


def dropout_forward(x, uint64_t seed, uint32_t threshold, double scale):
    """(y, mask) for a C-contiguous array of any shape; mask is a bool array of x's shape."""
    y, mask = _dropout_forward_flat(x.reshape(-1), seed, threshold, scale)
    return y.reshape(x.shape), mask.reshape(x.shape)


def _dropout_backward_flat(const floating[::1] gy, const uint8_t[::1] mask, double scale):
    cdef int64_t size = gy.shape[0]
    gx = np.empty((size,), dtype=_dtype(<floating>0))
    cdef floating[::1] gxv = gx
    cdef const floating *pgy = &gy[0]
    cdef const uint8_t *pm = &mask[0]
    cdef floating *pgx = &gxv[0]
    with nogil:
        if floating is float:
            fc_dropout_backward_f32(size, pgy, pm, scale, pgx)
        else:
            fc_dropout_backward_f64(size, pgy, pm, scale, pgx)
    return gx


def dropout_backward(gy, mask, double scale):
    """gx = gy * mask * scale; mask a C-contiguous bool array of gy's shape."""
    return _dropout_backward_flat(gy.reshape(-1), mask.reshape(-1).view(np.uint8),
                                  scale).reshape(gy.shape)


def _unary_flat(const floating[::1] x, int op, double alpha):
    """op 0 sigmoid, 1 tanh, 2 leaky_relu (slope alpha)."""
    cdef int64_t size = x.shape[0]
    y = np.empty((size,), dtype=_dtype(<floating>0))
    cdef floating[::1] yv = y
    cdef const floating *px = &x[0]
    cdef floating *py = &yv[0]
    with nogil:
        if floating is float:
            if op == 0:
                fc_sigmoid_forward_f32(size, px, py)
            elif op == 1:
                fc_tanh_forward_f32(size, px, py)
            else:
                fc_leaky_relu_forward_f32(size, px, alpha, py)
        else:
            if op == 0:
                fc_sigmoid_forward_f64(size, px, py)
            elif op == 1:
                fc_tanh_forward_f64(size, px, py)
            else:
                fc_leaky_relu_forward_f64(size, px, alpha, py)
    return y


def _unary_backward_flat(const floating[::1] gy, const floating[::1] z, int op, double alpha):
    """op 0 sigmoid (z = output), 1 tanh (z = output), 2 leaky_relu (z = input)."""
    cdef int64_t size = gy.shape[0]
    gx = np.empty((size,), dtype=_dtype(<floating>0))
    cdef floating[::1] gxv = gx
    cdef const floating *pgy = &gy[0]
    cdef const floating *pz = &z[0]
    cdef floating *pgx = &gxv[0]
    with nogil:
        if floating is float:
            if op == 0:
                fc_sigmoid_backward_f32(size, pgy, pz, pgx)
            elif op == 1:
                fc_tanh_backward_f32(size, pgy, pz, pgx)
            else:
                fc_leaky_relu_backward_f32(size, pgy, pz, alpha, pgx)
        else:
            if op == 0:
                fc_sigmoid_backward_f64(size, pgy, pz, pgx)
            elif op == 1:
                fc_tanh_backward_f64(size, pgy, pz, pgx)
            else:
                fc_leaky_relu_backward_f64(size, pgy, pz, alpha, pgx)
    return gx


def sigmoid_forward(x):
    return _unary_flat(x.reshape(-1), 0, 0.0).reshape(x.shape)


def sigmoid_backward(gy, y):
    return _unary_backward_flat(gy.reshape(-1), y.reshape(-1), 0, 0.0).reshape(gy.shape)


def tanh_forward(x):
    return _unary_flat(x.reshape(-1), 1, 0.0).reshape(x.shape)


def tanh_backward(gy, y):
    return _unary_backward_flat(gy.reshape(-1), y.reshape(-1), 1, 0.0).reshape(gy.shape)


def leaky_relu_forward(x, double negative_slope):
    return _unary_flat(x.reshape(-1), 2, negative_slope).reshape(x.shape)


def leaky_relu_backward(gy, x, double negative_slope):
    return _unary_backward_flat(gy.reshape(-1), x.reshape(-1), 2,
                                negative_slope).reshape(gy.shape)
