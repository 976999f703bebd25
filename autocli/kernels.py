"""The matrix-vector kernel that runs a decoder's projections while it generates, chosen at run time.

Decoding one token is a matrix-vector product per weight matrix, bound by how fast the weights stream.
On CPU, torch's eager kernels stream float32 weights at a third of the read bandwidth or less (F.linear's
GEMV runs on one core, MKL's x @ W uses a second one poorly); oneDNN's inner product, which torch ships
with its CPU builds, reads the same [out, in] weights on every core with the same float32 arithmetic in
another summation order (logits move by ~1e-6): 1.5-1.8x faster per decode step's weights (bench/RESULTS.md).
16-bit weights gain nothing from it unpacked, so they keep F.linear. So:

  auto    oneDNN for float32 on a CPU that torch runs with AVX2 or better and whose oneDNN build has
          the inner product; otherwise eager
  eager   torch's own kernels: float32 as x @ W over [in, out] weights (MKL's faster layout at one row),
          16-bit as F.linear over [out, in] (x @ W collapses there)
  onednn  oneDNN's inner product; refused (exit 5) where torch has none

This module imports torch only inside its functions: the CLI names its choices without loading torch.
"""

from __future__ import annotations

from autocli.errors import Unsupported

CHOICES = ("auto", "eager", "onednn")
# the layouts project() runs (autocli.models._decoder): kernel name -> weight stored [in, out]?
MATMUL, LINEAR, ONEDNN = "matmul", "linear", "onednn"
FAST_ENOUGH = ("AVX2", "AVX512", "AVX512_BF16", "AMX")  # torch.backends.cpu.get_cpu_capability() values


def onednn_available() -> bool:
    import torch

    return (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
            and torch.backends.cpu.get_cpu_capability() in FAST_ENOUGH)


def pick(choice: str, dtype, device) -> str:
    """The layout every projection of a decoding model takes: MATMUL, LINEAR or ONEDNN."""
    import torch

    if choice not in CHOICES:
        raise Unsupported(f"--kernels {choice!r} is not one of {', '.join(CHOICES)}", "use --kernels auto")
    cpu = torch.device(device).type == "cpu"
    eager = MATMUL if cpu and dtype == torch.float32 else LINEAR
    if choice == "eager":
        return eager
    if choice == "onednn":
        if not (cpu and onednn_available()):
            raise Unsupported("--kernels onednn needs a CPU device and a torch built with oneDNN on an AVX2 CPU",
                              "use --kernels auto")
        return ONEDNN
    return ONEDNN if cpu and dtype == torch.float32 and onednn_available() else eager


def onednn_linear(x, weight, bias):
    """x (..., in) @ weight [out, in].T + bias -> (..., out), through oneDNN's inner product."""
    import torch

    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
