"""The benchmark runs and prints one table with every ratio (timings themselves are not tested)."""
from cnn_core import benchmark


def test_benchmark_prints_the_table(capsys):
    assert benchmark.main(["--samples", "40", "--repeats", "1", "--no-others"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| 784-200-10") or line.startswith("| 4-8-3")]
    names = {tuple(cell.strip() for cell in line.split("|")[1:5]) for line in lines}
    for dtype in ("float64", "float32"):
        for case in ("train", "query", "fit", "predict 40"):
            assert (f"784-200-10 {case}", "cnn_core", dtype, "1") in names
        for case in ("fit", "predict 40"):
            assert (f"784-200-10 {case}", "cnn_core", dtype, "2") in names
        assert ("784-200-10 fit", "cnn_core", dtype, "auto") in names
    assert ("4-8-3 fit", "cnn_core", "float64", "1") in names
    assert all(line.rstrip(" |").endswith("x") for line in lines)      # every row has its ratio
    assert "memory bound" in out and "machine:" in out


def test_ratio_is_to_the_numpy_row_of_the_same_operation_and_threads():
    cases = [benchmark.Case("n", "train", "numpy", "float64", 1, "train", 1, None),
             benchmark.Case("n", "fit", "cnn_core", "float64", 1, "train", 1, None),
             benchmark.Case("n", "train", "numpy", "float64", 2, "train", 1, None),
             benchmark.Case("n", "fit", "cnn_core", "float64", 2, "train", 1, None)]
    for case, rates in zip(cases, ([10, 10, 10], [50, 40, 60], [20], [100])):
        case.rates = rates
    table = benchmark.format_table(cases)
    assert "5.0x" in table.splitlines()[3] and "5.0x" in table.splitlines()[5]
