"""Regenerate the tiny wheels that tests/unit/resolver/pep/wheelmeta.c reads
(table: tests/vectors/wheelmeta.txt) and the wheelmeta fuzz seed corpus.

    python3 tests/vectors/wheels/make.py

Every file is deterministic (tests/fakes/wheels.py fixes zip timestamps), so
running this again gives the same bytes. Each <name>.whl that has metadata
gets <name>.METADATA beside it: the bytes wheelmeta_extract must return,
as python's zipfile reads them.
"""

import io
import os
import shutil
import struct
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "fakes"))
import wheels  # noqa: E402

CORPUS = os.path.join(ROOT, "fuzz", "corpus", "wheelmeta")
DATE = (2024, 1, 1, 0, 0, 0)


def zinfo(name, method=zipfile.ZIP_DEFLATED):
    zi = zipfile.ZipInfo(name, date_time=DATE)
    zi.compress_type = method
    zi.external_attr = 0o644 << 16
    return zi


def raw_zip(members, comment=b""):
    """members: [(name, bytes, method)]"""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as zf:
        for name, data, method in members:
            zf.writestr(zinfo(name, method), data)
        zf.comment = comment
    return b.getvalue()


def to_zip64(data):
    """Rewrite a plain zip's central directory and EOCD in ZIP64 form: every
    size and offset saturated at 0xffffffff with the real value in a ZIP64
    extra field, a ZIP64 EOCD record and locator, and 0xffff counts."""
    eocd = data.rfind(b"PK\x05\x06")
    n, cd_size, cd_off = struct.unpack("<HII", data[eocd + 10:eocd + 20])
    out = bytearray(data[:cd_off])
    pos = cd_off
    new_cd = bytearray()
    for _ in range(n):
        hdr = bytearray(data[pos:pos + 46])
        csize, usize = struct.unpack("<II", hdr[20:28])
        nlen, xlen, clen = struct.unpack("<HHH", hdr[28:34])
        (off,) = struct.unpack("<I", hdr[42:46])
        name = data[pos + 46:pos + 46 + nlen]
        extra = data[pos + 46 + nlen:pos + 46 + nlen + xlen]
        comment = data[pos + 46 + nlen + xlen:pos + 46 + nlen + xlen + clen]
        z64 = struct.pack("<HHQQQ", 1, 24, usize, csize, off)
        hdr[20:28] = struct.pack("<II", 0xFFFFFFFF, 0xFFFFFFFF)
        hdr[42:46] = struct.pack("<I", 0xFFFFFFFF)
        hdr[30:32] = struct.pack("<H", len(extra) + len(z64))
        new_cd += hdr + name + z64 + extra + comment
        pos += 46 + nlen + xlen + clen
    out += new_cd
    rec_off = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(new_cd), cd_off)
    out += struct.pack("<IIQI", 0x07064B50, 0, rec_off, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF,
                       0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(out)


def write(name, data, ok=True):
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        f.write(data)
    shutil.copyfile(path, os.path.join(CORPUS, name))
    if not ok:
        return
    meta = wheels.metadata_of(path)
    with open(os.path.join(HERE, name[:-4] + ".METADATA"), "wb") as f:
        f.write(meta)


def main():
    os.makedirs(CORPUS, exist_ok=True)
    meta = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n"
    with tempfile.TemporaryDirectory() as tmp:
        p = wheels.make_wheel(tmp, "demo", "1.0", deps=["dep-pkg>=1.0"],
                              requires_python=">=3.8")
        plain = open(p, "rb").read()
        p = wheels.make_wheel(tmp, "torch", "2.5.1+cu124",
                              tag="cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
                              deps=["filelock", "jinja2"],
                              files={"torch/lib/x.so": bytes(range(256)) * 16})
        padded = open(p, "rb").read()
    write("plain.whl", plain)
    write("padded.whl", padded)
    write("zip64.whl", to_zip64(plain))
    write("comment.whl", plain[:-2] + struct.pack("<H", 11) + b"hello world")
    write("stored.whl", raw_zip([("demo/__init__.py", b"", zipfile.ZIP_STORED),
                                 ("demo-1.0.dist-info/METADATA", meta, zipfile.ZIP_STORED)]))
    write("empty-metadata.whl", raw_zip([("demo-1.0.dist-info/METADATA", b"",
                                          zipfile.ZIP_DEFLATED)]))
    write("two-distinfo.whl", raw_zip([("a-1.0.dist-info/METADATA", meta, zipfile.ZIP_DEFLATED),
                                       ("b-1.0.dist-info/METADATA", meta, zipfile.ZIP_DEFLATED)]),
          ok=False)
    write("no-metadata.whl", raw_zip([("demo-1.0.dist-info/WHEEL", b"x", zipfile.ZIP_DEFLATED)]),
          ok=False)
    write("nested-metadata.whl", raw_zip([("demo/x-1.0.dist-info/METADATA", meta,
                                           zipfile.ZIP_DEFLATED)]), ok=False)
    write("bzip2.whl", raw_zip([("demo-1.0.dist-info/METADATA", meta, zipfile.ZIP_BZIP2)]),
          ok=False)
    write("empty.whl", raw_zip([]), ok=False)


if __name__ == "__main__":
    main()
