"""The thread count inside njit code, in a form numba can cache.

``numba.get_num_threads()`` called from an njit function reads numba's
threading layer through a ctypes pointer, which numba refuses to cache
("dynamic globals"): every caller would be compiled again in each process.
:func:`thread_count` calls the layer's ``get_num_threads`` by its symbol
name instead (the symbol numba registers when it loads the layer, as it
does for the scheduler's own symbols), so the machine code holds no address.
Inputs: none.  Used by the kernels to plan their tiles (:func:`numbadn.kernels._conv.plan_tiles`).
"""
from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def thread_count(typingctx):
    """Numba threads a parallel loop started now by this thread would use (int64)."""
    numba.get_num_threads()  # loads the threading layer, which registers the symbol

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(cgutils.intp_t, [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "get_num_threads")
        return builder.call(fn, [])
    return types.intp(), codegen
