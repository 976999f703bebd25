"""The matrix-vector kernel that runs a decoder's projections while it generates, chosen at run time.

Decoding one token is a matrix-vector product per weight matrix, bound by how fast the weights stream.
On CPU, torch's eager kernels stream float32 weights at a third of the read bandwidth or less (F.linear's
GEMV runs on one core, MKL's x @ W uses a second one poorly); oneDNN's inner product, which torch ships
with its CPU builds, reads the same [out, in] weights on every core with the same float32 arithmetic in
another summation order (logits move by ~1e-6): 1.5-1.8x faster per decode step's weights, and float32
weights packed once into its blocked layout another ~1.5x, at about the read bandwidth (bench/RESULTS.md).
16-bit weights gain nothing from it as they are (oneDNN reorders them on every call), but packed once into
oneDNN's blocked layout they stream ~1.6x faster than F.linear with the same results bit for bit. So:

  auto    float32: packed oneDNN on a CPU that torch runs with AVX2 or better and whose oneDNN build has
          the inner product and its packing (dense oneDNN without the packing); bfloat16: packed oneDNN
          where the CPU has bf16 dot products (avx512_bf16, amx_bf16: the measured case); float16: packed
          oneDNN where torch's oneDNN runs float16 on this CPU (avx512_fp16 or avx_ne_convert); otherwise eager
  eager   torch's own kernels: float32 as x @ W over [in, out] weights (MKL's faster layout at one row),
          16-bit as F.linear over [out, in] (x @ W collapses there)
  onednn  oneDNN's inner product, 16-bit weights packed; refused (exit 5) where torch's oneDNN cannot run
          the dtype on this CPU

This module imports torch only inside its functions: the CLI names its choices without loading torch.
"""

from __future__ import annotations

from autocli.errors import Unsupported

CHOICES = ("auto", "eager", "onednn")
# the layouts project() runs (autocli.models._decoder): x @ W over [in, out], F.linear or oneDNN over
# [out, in], oneDNN over its own packed (opaque) copy of [out, in]
MATMUL, LINEAR, ONEDNN, PACKED = "matmul", "linear", "onednn", "packed"
FAST_ENOUGH = ("AVX2", "AVX512", "AVX512_BF16", "AMX")  # torch.backends.cpu.get_cpu_capability() values
NATIVE_BF16 = ("avx512_bf16", "amx_bf16")  # CPU flags: bf16 dot products in hardware, not emulated


def onednn_available() -> bool:
    import torch

    return (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
            and torch.backends.cpu.get_cpu_capability() in FAST_ENOUGH)


def packs(dtype) -> bool:
    """Whether torch's oneDNN runs packed `dtype` (float32, bfloat16, float16) weights on this CPU."""
    import torch

    mkldnn = torch.ops.mkldnn
    if not (onednn_available() and hasattr(mkldnn, "_reorder_linear_weight")):
        return False
    if dtype == torch.bfloat16:
        return mkldnn._is_mkldnn_bf16_supported()
    return dtype == torch.float32 or (dtype == torch.float16 and mkldnn._is_mkldnn_fp16_supported())


def packs_faster(dtype) -> bool:
    """Whether auto packs 16-bit weights: bfloat16 only on bf16 hardware, where it measured faster than
    F.linear (torch also runs bf16 emulated on plain AVX-512: unmeasured, so not chosen); float16 wherever
    oneDNN runs it (no such CPU measured yet)."""
    import torch

    from autocli.environment import cpu_info

    if dtype == torch.bfloat16 and not set(NATIVE_BF16) & set(cpu_info()["features"]):
        return False
    return packs(dtype)


def pick(choice: str, dtype, device) -> str:
    """The layout every projection of a decoding model takes: MATMUL, LINEAR, ONEDNN or PACKED."""
    import torch

    if choice not in CHOICES:
        raise Unsupported(f"--kernels {choice!r} is not one of {', '.join(CHOICES)}", "use --kernels auto")
    cpu = torch.device(device).type == "cpu"
    wide = dtype == torch.float32
    eager = MATMUL if cpu and wide else LINEAR
    if choice == "onednn":
        if not (cpu and (onednn_available() if wide else packs(dtype))):
            raise Unsupported(f"--kernels onednn needs a CPU device and a torch whose oneDNN runs "
                              f"{str(dtype).removeprefix('torch.')} on this CPU", "use --kernels auto")
        return PACKED if packs(dtype) else ONEDNN
    if choice == "eager" or not cpu:
        return eager
    if wide:
        return PACKED if packs(dtype) else ONEDNN if onednn_available() else eager
    return PACKED if packs_faster(dtype) else eager


def onednn_linear(x, weight, bias):
    """x (..., in) @ weight [out, in].T + bias -> (..., out), through oneDNN's inner product; weight dense
    or packed by pack()."""
    import torch

    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


def pack(weight):
    """weight [out, in] -> oneDNN's opaque copy in the blocked layout its one-row inner product reads
    fastest (float32: the layout packed for any batch size, which streams ~1.5x faster than dense at one row,
    where the one-row packing gains nothing); unpack() gives the dense tensor back."""
    import torch

    rows = None if weight.dtype == torch.float32 else 1
    return torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), rows)


def unpack(packed):
    return packed.to_dense()  # [out, in]
