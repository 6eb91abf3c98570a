"""Merges repeated runs of one benchmark (moreml `bench train --json` or torch_bench.py output)
into one file of the same form: every number of a (model, dtype) row is the median over the
runs, and `per_run` keeps each run's value. On a shared machine single runs move by 10-50%.

    python3 bench/peers/median.py OUT.json RUN1.json RUN2.json ...
"""

import json
import statistics
import sys


def main():
    out, files = sys.argv[1], sys.argv[2:]
    runs = [json.loads(open(f).read()) for f in files]
    merged = dict(runs[0])
    rows = []
    for row in runs[0]["runs"]:
        key = (row["arch"], row["dtype"])
        same = [next(r for r in run["runs"] if (r["arch"], r["dtype"]) == key) for run in runs]
        m = dict(row)
        m["per_run"] = {}
        for field, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values = [r[field] for r in same]
                m[field] = statistics.median(values)
                m["per_run"][field] = values
        rows.append(m)
    merged["runs"] = rows
    merged["merged_runs"] = len(runs)
    open(out, "w").write(json.dumps(merged, indent=1) + "\n")


if __name__ == "__main__":
    main()
