"""fastconv._cpu: the CPU named by vendor, family and model, as the benchmark and `info` print it."""
import pytest

from fastconv import _cpu

AMD = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: {family}
model\t\t: {model}
model name\t: AMD EPYC
flags\t\t: fpu avx2

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
"""

ARM = """processor\t: 0
BogoMIPS\t: 50.00
CPU implementer\t: 0x41
CPU part\t: 0xd0c
"""


@pytest.mark.parametrize("family, model, expected", [
    (25, 1, "Zen 3"),        # EPYC 7003 (Milan): 512 KiB L2, no AVX-512
    (25, 17, "Zen 4"),       # EPYC 9004 (Genoa)
    (25, 97, "Zen 4"),       # Ryzen 7000
    (25, 33, "Zen 3"),       # Ryzen 5000
    (26, 2, "Zen 5"),        # EPYC 9005 (Turin)
    (23, 49, "Zen 2"),
    (24, 0, None),           # Hygon: not in the table
])
def test_amd_families(family, model, expected):
    info = _cpu.parse_cpuinfo(AMD.format(family=family, model=model))
    assert (info["vendor"], info["family"], info["model"]) == ("AuthenticAMD", family, model)
    assert info["uarch"] == expected
    line = _cpu.describe(info)
    assert line.startswith(f"AMD EPYC (AMD family {family} model {model}")
    assert line.endswith(f": {expected})" if expected else f"model {model})")


def test_only_first_processor_is_read():
    info = _cpu.parse_cpuinfo(AMD.format(family=26, model=0))
    assert info["vendor"] == "AuthenticAMD" and info["uarch"] == "Zen 5"


def test_intel_sapphire_rapids():
    text = ("vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
            "model name\t: Intel(R) Xeon(R) Platinum 8481C\n")
    info = _cpu.parse_cpuinfo(text)
    assert info["uarch"] == "Sapphire Rapids"
    assert _cpu.describe(info) == ("Intel(R) Xeon(R) Platinum 8481C "
                                   "(Intel family 6 model 143: Sapphire Rapids)")


def test_aarch64_has_no_family():
    info = _cpu.parse_cpuinfo(ARM)
    assert info["family"] is None and info["uarch"] is None
    assert info["model"] == 0xD0C
    assert "family" not in _cpu.describe(info)


def test_malformed_fields_do_not_raise():
    info = _cpu.parse_cpuinfo("vendor_id: AuthenticAMD\ncpu family: ?\nmodel: x1\n")
    assert info["family"] is None and info["model"] is None and info["uarch"] is None
    assert _cpu.describe(info)


def test_this_machine():
    line = _cpu.cpu_line()
    assert isinstance(line, str) and line


def test_info_names_the_cpu(capsys):
    from fastconv.cli import main
    assert main(["info"]) == 0
    rows = dict(ln.split(":", 1) for ln in capsys.readouterr().out.splitlines()[1:])
    assert rows["CPU"].strip() == _cpu.cpu_line()
