"""Prints criterion's medians for the encrypt group as a table, with throughput over the
MIME entity and the ratio of Postsiegel to openssl measured in the same run."""
import json
import os
import sys

root = sys.argv[1]
rows = {}
for function in sorted(os.listdir(root)):
    fdir = os.path.join(root, function)
    if not os.path.isdir(fdir) or function == "report":
        continue
    for size in sorted(os.listdir(fdir)):
        estimates = os.path.join(fdir, size, "new", "estimates.json")
        benchmark = os.path.join(fdir, size, "new", "benchmark.json")
        if not os.path.exists(estimates):
            continue
        median_ns = json.load(open(estimates))["median"]["point_estimate"]
        throughput = json.load(open(benchmark)).get("throughput") or {}
        nbytes = throughput.get("Bytes", 0)
        rows[(size, function)] = (median_ns, nbytes)

print("MB/s counts MIME-entity bytes; ratio = openssl's time / ours (higher is faster)")
print(f"{'payload':<8} {'what':<24} {'median':>10} {'MB/s':>8}  ratio to openssl")
for (size, function), (ns, nbytes) in sorted(rows.items()):
    mbps = nbytes / (ns / 1e9) / 1e6 if nbytes else 0
    reference = rows.get((size, "openssl cms -encrypt"))
    ratio = f"{reference[0] / ns:.2f}x" if reference and function == "postsiegel" else ""
    print(f"{size.replace('_', ' '):<8} {function.replace('_', ' '):<24} {ns / 1e6:>8.1f} ms {mbps:>8.0f}  {ratio}")
