#!/usr/bin/env python3
"""A minimal Open Inference Protocol (KServe v2) client, standard library only, written from
the spec: JSON infer and the binary tensor data extension (request and response).

    python3 examples/oip_client.py --url http://localhost:8080

runs the origin notebook's 2-d layer through the built-in "convtranspose" model, once as
JSON and once with binary tensors, prints the outputs, and exits 1 if they are not the
known answer.
"""
import argparse
import json
import struct
import sys
import urllib.request


def infer_json(url, model, inputs, parameters=None):
    """inputs: list of (name, shape, flat list of floats). Returns (shape, data)."""
    body = {"id": "json-1", "inputs": [{"name": n, "shape": s, "datatype": "FP32", "data": d} for n, s, d in inputs]}
    if parameters:
        body["parameters"] = parameters
    req = urllib.request.Request(f"{url}/v2/models/{model}/infer", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    out = json.load(urllib.request.urlopen(req))["outputs"][0]
    return out["shape"], out["data"]


def infer_binary(url, model, inputs, parameters=None):
    """The same with every tensor sent and received as raw little-endian float32."""
    header = {"inputs": [], "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}
    if parameters:
        header["parameters"] = parameters
    blobs = []
    for name, shape, data in inputs:
        blob = struct.pack(f"<{len(data)}f", *data)
        header["inputs"].append({"name": name, "shape": shape, "datatype": "FP32",
                                 "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    head = json.dumps(header).encode()
    req = urllib.request.Request(f"{url}/v2/models/{model}/infer", head + b"".join(blobs),
                                 {"Inference-Header-Content-Length": str(len(head)),
                                  "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req) as resp:
        length = int(resp.headers["Inference-Header-Content-Length"])
        body = resp.read()
    out = json.loads(body[:length])["outputs"][0]
    size = out["parameters"]["binary_data_size"]
    data = list(struct.unpack(f"<{size // 4}f", body[length:length + size]))
    return out["shape"], data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8080")
    args = parser.parse_args()
    inputs = [("input", [1, 2, 3, 3], [float(v) for v in range(18)]), ("weight", [2, 2, 3, 3], [1.0] * 36)]
    params = {"groups": 2}
    want = [0, 1, 3, 3, 2, 3, 8, 15, 12, 7, 9, 21, 36, 27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8]
    want = want * 2 + [9, 19, 30, 21, 11, 21, 44, 69, 48, 25, 36, 75, 117, 81, 42, 27, 56, 87, 60, 31, 15, 31, 48, 33, 17] * 2
    ok = True
    for name, fn in (("json", infer_json), ("binary", infer_binary)):
        shape, data = fn(args.url, "convtranspose", inputs, params)
        good = shape == [1, 4, 5, 5] and data == want
        ok &= good
        print(f"{name}: shape {shape}, first values {data[:8]} {'ok' if good else 'WRONG'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
