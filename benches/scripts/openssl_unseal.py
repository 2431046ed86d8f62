#!/usr/bin/env python3
"""The reference side of the `unseal` bench: the same unseal through OpenSSL (Python's
`cryptography` package). Reads the key PEM path and one line per sealed item (label hex,
blob hex) from argv files; then serves requests on stdin: a number N per line, answered with
the nanoseconds N unseals of the whole item set took."""
import sys
import time

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:  # installed from PyPI by the bench, as the issue asks
    import subprocess
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--break-system-packages", "cryptography"])
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
items = []
for line in open(sys.argv[2]):
    label, blob = line.split()
    items.append((bytes.fromhex(label), bytes.fromhex(blob)))

ZERO = bytes(12)


def unseal(label, blob):
    n = int.from_bytes(blob[:2], "big")
    session = key.decrypt(
        blob[2 : 2 + n],
        padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None),
    )
    return AESGCM(session).decrypt(ZERO, blob[2 + n :], None)


# Self-check: everything opens.
for label, blob in items:
    unseal(label, blob)
print("ready", flush=True)

for line in sys.stdin:
    n = int(line)
    start = time.perf_counter_ns()
    for _ in range(n):
        for label, blob in items:
            unseal(label, blob)
    print(time.perf_counter_ns() - start, flush=True)
