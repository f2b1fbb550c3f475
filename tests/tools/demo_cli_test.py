#!/usr/bin/env python3
"""uepool demo, as a new user meets it: a short run of a 3-SMF set (and a
standby that joins) on loopback ends with exit 0, a report whose checks all
held and whose join and leave moved blocks, and an SVG chart that parses and
has one utilization line per SMF and the kill, the join and the leave
marked; bad options exit 2 with the reason.
  demo_cli_test.py UEPOOL_BINARY"""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def main():
    uepool = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        chart = os.path.join(tmp, "demo.svg")
        r = subprocess.run([uepool, "demo", "--members", "3", "--sessions", "300", "--duration", "4", "--chart", chart],
                           capture_output=True, text=True, timeout=300)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        for want in ["every SMF ready after", "sessions served", "recovery              smf",
                     "ready again after", "checks                no unit held twice: yes; every SMF ready and "
                     "settled at the last epoch: yes; nothing leaked: yes", f"chart                 {chart}",
                     "smf4 (joined)", " (left) "]:
            assert want in out, f"missing '{want}' in:\n{out}"
        served = int(out.split("sessions served")[1].split()[0])
        assert served > 100, out
        moved = [int(x.split()[0]) for x in out.split("blocks moved          ")[1:]]
        assert len(moved) == 2 and all(m > 0 for m in moved), f"a join and a leave that move blocks: {moved}\n{out}"
        svg = ET.parse(chart).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        lines = svg.findall(f"{ns}polyline")
        assert len(lines) >= 9, f"{len(lines)} lines in the chart (4 SMFs' utilization, the rate in all and per SMF)"
        texts = [t.text for t in svg.findall(f"{ns}text")]
        assert any(t and t.endswith(" killed") for t in texts), texts
        assert any(t and t.endswith(" recovered") for t in texts), texts
        assert any(t and t.endswith(" joins") for t in texts), texts
        assert any(t and t.endswith(" leaves") for t in texts), texts
        for bad in (["--members", "1"], ["--config", os.path.join(tmp, "missing.yaml")], ["--duration", "1"]):
            r = subprocess.run([uepool, "demo"] + bad, capture_output=True, text=True, timeout=60)
            assert r.returncode == 2 and r.stderr, (bad, r.returncode, r.stdout, r.stderr)
    print("demo_cli: ok")


if __name__ == "__main__":
    main()
