"""Which CPU this is: vendor, family and model from /proc/cpuinfo, and the microarchitecture they
name, so that a benchmark figure says which core it came from (the brand string of a virtual
machine often does not: "AMD EPYC" is any of Zen 1 to Zen 5)."""
import platform
import re
from typing import Dict, Optional

# (vendor, family) -> [(first model, last model, name)], from the vendors' family/model tables.
_UARCH = {
    ("AuthenticAMD", 0x17): [(0x00, 0x2F, "Zen / Zen+"), (0x30, 0xFF, "Zen 2")],
    ("AuthenticAMD", 0x19): [(0x00, 0x0F, "Zen 3"), (0x10, 0x1F, "Zen 4"), (0x20, 0x5F, "Zen 3"),
                             (0x60, 0xAF, "Zen 4")],
    ("AuthenticAMD", 0x1A): [(0x00, 0xFF, "Zen 5")],
    ("GenuineIntel", 6): [(0x55, 0x55, "Skylake-SP / Cascade Lake"),
                          (0x6A, 0x6A, "Ice Lake-SP"), (0x6C, 0x6C, "Ice Lake-SP"),
                          (0x8F, 0x8F, "Sapphire Rapids"), (0xCF, 0xCF, "Emerald Rapids"),
                          (0xAD, 0xAE, "Granite Rapids"), (0x97, 0x9A, "Alder Lake"),
                          (0xB7, 0xB7, "Raptor Lake"), (0xBA, 0xBA, "Raptor Lake"),
                          (0xBF, 0xBF, "Raptor Lake"), (0x8C, 0x8D, "Tiger Lake"),
                          (0x7D, 0x7E, "Ice Lake"), (0x9E, 0x9E, "Coffee Lake"),
                          (0x8E, 0x8E, "Kaby Lake / Whiskey Lake"),
                          (0x4F, 0x4F, "Broadwell"), (0x3F, 0x3F, "Haswell"),
                          (0x3C, 0x3C, "Haswell")],
}


def uarch(vendor: str, family: int, model: int) -> Optional[str]:
    """The microarchitecture of a (vendor id, family, model) triple, or None if not in the
    table."""
    for lo, hi, name in _UARCH.get((vendor, family), ()):
        if lo <= model <= hi:
            return name
    return None


def parse_cpuinfo(text: str) -> Dict[str, object]:
    """The first processor's fields of a /proc/cpuinfo text: name (brand string), vendor,
    family, model (ints, or None when absent, e.g. on aarch64) and uarch (or None)."""
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())

    def number(key):
        value = fields.get(key)
        if value is None or not re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)", value):
            return None
        return int(value, 0)

    vendor = fields.get("vendor_id", "")
    family, model = number("cpu family"), number("model")
    name = fields.get("model name") or fields.get("Model") or ""
    if not vendor and "CPU implementer" in fields:
        vendor = "ARM implementer " + fields["CPU implementer"]
        family, model = None, number("CPU part")
    arch = uarch(vendor, family, model) if family is not None and model is not None else None
    return {"name": name, "vendor": vendor, "family": family, "model": model, "uarch": arch}


def describe(info: Dict[str, object]) -> str:
    """One line: brand string, then family/model and microarchitecture when known, e.g.
    ``AMD EPYC (AMD family 25 model 1: Zen 3)``."""
    name = str(info["name"] or platform.processor() or platform.machine() or "unknown CPU")
    if info["family"] is None or info["model"] is None:
        return name
    vendor = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}.get(str(info["vendor"]),
                                                                   str(info["vendor"]))
    ident = f"{vendor} family {info['family']} model {info['model']}"
    if info["uarch"]:
        ident += f": {info['uarch']}"
    return f"{name} ({ident})"


def cpu_info() -> Dict[str, object]:
    """parse_cpuinfo of this machine's /proc/cpuinfo (only the brand string from platform where
    there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            return parse_cpuinfo(f.read())
    except OSError:
        return {"name": platform.processor() or platform.machine() or "", "vendor": "",
                "family": None, "model": None, "uarch": None}


def cpu_line() -> str:
    return describe(cpu_info())
