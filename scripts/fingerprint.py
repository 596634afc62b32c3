#!/usr/bin/env python3
"""Fingerprint of a training run: its per-step losses and final accuracy (from the trainer's
JSON report) and a SHA-256 per checkpoint tensor (safetensors: an 8-byte header length, a JSON
header, then raw tensor bytes). `same-run.sh` compares two fingerprints; equal means the same
run bit for bit."""
import hashlib, json, struct, sys

def fingerprint(report_path, checkpoint_path):
    report = json.load(open(report_path))
    run = report["runs"][0] if "runs" in report else report
    data = open(checkpoint_path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    tensors = {
        name: hashlib.sha256(body[t["data_offsets"][0]:t["data_offsets"][1]]).hexdigest()
        for name, t in sorted(header.items()) if name != "__metadata__"
    }
    return {
        "step_losses": [struct.unpack("<I", struct.pack("<f", x))[0] for x in run["step_losses"]],
        "final_test_accuracy": run["final_test_accuracy"],
        "tensors": tensors,
    }

if __name__ == "__main__":
    json.dump(fingerprint(sys.argv[1], sys.argv[2]), sys.stdout, indent=1, sort_keys=True)
