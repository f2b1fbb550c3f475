#!/usr/bin/env python3
"""uepool demo — a local SMF set at work, and a report.

Starts an SMF set of `uepool node` processes on this machine (loopback,
CurveZMQ keys made with `uepool node --keygen`, one data folder, control
socket and /metrics port each) and plays the SMFs and their session store:
it creates dual-stack PDU sessions (an IPv4 address and an IPv6 /64) at any
SMF, moves sessions between SMFs (takeovers) and ends them wherever they are
(the release travels to the owner), answers each node's held-list requests
from its own session table, kills one SMF a third of the way through (its
sessions are taken over, it restarts and recovers), lets a standby SMF join
(it was started with weight 0: it owns nothing until a new membership epoch
gives it a weight) and another SMF leave (weight 0: its blocks move, it
keeps serving the sessions it controls), then goes quiet, runs an audit
everywhere and checks: no unit ever handed to a session while another held
it, every node ready and settled at the last epoch, nothing leaked (the
units in use across the set are the units the stored sessions hold,
held-down units aside).

Prints a live progress line (plain lines when stdout is not a terminal), a
report, and writes an SVG chart of utilization and throughput per SMF over
time with the kill, the recovery, the join and the leave marked. Exit
status 0 only when every check held; 2 for a usage error. Everything it
starts it stops, on Ctrl-C too.

  uepool demo [--members 4] [--sessions 2000] [--duration 20] [--config FILE]
"""
import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


class Ctl:
    """One control-socket connection; a reply that does not come in time closes it."""

    def __init__(self, path):
        self.path, self.sock, self.buf = path, None, b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def call(self, line, timeout=2.0):
        try:
            if self.sock is None:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(timeout)
                s.connect(self.path)
                self.sock = s
            self.sock.settimeout(timeout)
            self.sock.sendall(line.encode() + b"\n")
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise OSError("closed")
                self.buf += chunk
            reply, self.buf = self.buf.split(b"\n", 1)
            return reply.decode()
        except OSError:
            self.close()
            return None


def state_of(reply):
    if reply is None or not reply.startswith("ok "):
        return None
    head, _, reason = reply[3:].partition(" reason=")
    st = dict(kv.split("=", 1) for kv in head.split())
    st["reason"] = reason
    return st


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DEFAULT_POOLS = """epoch: 1
lease_ms: 1000
audit_interval_ms: 0
audit_grace_ms: 300
curve: true
pools:
  - {name: v4, prefix: 10.45.0.0/16, unit_length: 32, block_units: 256, excluded: [10.45.0.0/32, 10.45.0.1/32]}
  - {name: v6, prefix: "2001:db8:cafe::/48", unit_length: 64, block_units: 256, excluded: ["2001:db8:cafe::/64"]}
"""


class Demo:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.active = args.members  # with a weight from the start
        self.n = args.members + 1  # and one standby (weight 0), which joins
        self.weights = [1] * self.active + [0]
        self.epoch = 1
        self.moves = []  # (what, seconds to settle, blocks moved)
        self.rng = random.Random(args.seed)
        self.procs = [None] * self.n
        self.ctl = [Ctl(f"{work}/smf{i + 1}.sock") for i in range(self.n)]
        self.metrics_port = [free_port() for _ in range(self.n)]
        self.sessions = {}  # sid -> {"leases": [...], "units": [...], "node": i}
        self.holder = {}  # (pool, unit) -> (sid, owner node)
        self.next_sid = 1
        self.conflicts = []
        self.c = dict(created=0, released=0, moved=0, refused=0, unanswered=0, held_lists=0)
        self.samples = []  # (t, [utilization per node], sessions created per second)
        self.events = []  # (t, text)
        self.t0 = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.killed = None
        self.recovery = None
        self.created_at = [0] * self.n  # sessions created at each SMF
        self.created_last = [0] * self.n
        self.per_smf = []  # per sample: sessions/s at each SMF

    # ---- set-up ----
    def config(self):
        if self.args.config:
            with open(self.args.config) as f:
                text = f.read()
            # Everything but the members, which the demo writes itself (loopback, fresh keys).
            head = re.split(r"(?m)^members:\s*$", text)[0]
            head = re.sub(r"(?m)^curve:.*$", "", head)
            text = head.rstrip("\n") + "\ncurve: true\n"
        else:
            text = DEFAULT_POOLS
        text += "members:\n"
        for i in range(self.n):
            keys = subprocess.run([self.args.bin, "node", "--keygen"], capture_output=True, text=True,
                                  check=True).stdout
            pub = keys.split('public_key: "')[1].split('"')[0]
            sec = keys.split('secret_key: "')[1].split('"')[0]
            with open(f"{self.work}/smf{i + 1}.key", "w") as f:
                f.write(sec + "\n")
            os.makedirs(f"{self.work}/smf{i + 1}", exist_ok=True)
            text += (f"  - {{name: smf{i + 1}, id: {i + 1}, weight: {self.weights[i]}, "
                     f"endpoint: \"tcp://127.0.0.1:{free_port()}\", "
                     f"public_key: \"{pub}\", secret_key_file: \"{self.work}/smf{i + 1}.key\"}}\n")
        with open(f"{self.work}/set.yaml", "w") as f:
            f.write(text)
        r = subprocess.run([self.args.bin, "check", "--config", f"{self.work}/set.yaml"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise SystemExit(f"demo: the configuration is refused:\n{r.stdout}{r.stderr}")

    def start(self, i, fresh=True):
        log = open(f"{self.work}/smf{i + 1}.log", "a")
        cmd = [self.args.bin, "node", "--config", f"{self.work}/set.yaml", "--id", f"smf{i + 1}", "--data-dir",
               f"{self.work}/smf{i + 1}", "--control", f"{self.work}/smf{i + 1}.sock", "--session-store",
               "--metrics-port", str(self.metrics_port[i])]
        if fresh:
            cmd.append("--fresh")
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.ctl[i].close()

    def stop_all(self):
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for i, p in enumerate(self.procs):
            if p is not None:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                self.procs[i] = None

    def alive(self, i):
        return self.procs[i] is not None and self.procs[i].poll() is None

    def live(self):
        return [i for i in range(self.n) if self.alive(i)]

    def serving(self):
        """The SMFs that allocate: alive and with a weight (a standby or a member that left owns nothing)."""
        return [i for i in self.live() if self.weights[i] > 0]

    def now(self):
        return time.monotonic() - self.t0

    # ---- the session store ----
    def answer_held(self, i):
        r = self.ctl[i].call("held-wanted")
        if r is None or not r.startswith("ok ") or r == "ok none":
            return
        ticket = r.split()[1]
        leases = [lease for s in self.sessions.values() for lease in s["leases"]]
        for k in range(0, len(leases), 500):
            if self.ctl[i].call(f"held {ticket} " + " ".join(leases[k:k + 500])) is None:
                return
        if self.ctl[i].call(f"held-end {ticket}") == "ok":
            self.c["held_lists"] += 1

    # ---- sessions ----
    def create(self, i):
        r = self.ctl[i].call("allocate-dual v4 v6")
        if r is None:
            self.c["unanswered"] += 1
            return
        if not r.startswith("ok "):
            self.c["refused"] += 1
            return
        w = r.split()
        leases = [w[1], w[3]]
        units = [tuple(int(x) for x in lease.split(".")[:2]) for lease in leases]
        sid = self.next_sid
        self.next_sid += 1
        for u in units:
            if u in self.holder:
                self.conflicts.append(f"pool {u[0]} unit {u[1]} handed to session {sid} by smf{i + 1} "
                                      f"while session {self.holder[u][0]} holds it")
            self.holder[u] = (sid, i)
        self.sessions[sid] = {"leases": leases, "units": units, "node": i}
        self.c["created"] += 1
        self.created_at[i] += 1

    def release(self, sid):
        s = self.sessions.pop(sid)
        for u in s["units"]:
            del self.holder[u]
        at = s["node"] if self.alive(s["node"]) else self.rng.choice(self.live())
        for lease in s["leases"]:
            self.ctl[at].call(f"release {lease}")
        self.c["released"] += 1

    def churn(self, ops):
        live = self.live()
        serving = self.serving()
        for _ in range(ops):
            x = self.rng.random()
            if len(self.sessions) < self.args.sessions and (x < 0.6 or len(self.sessions) < self.args.sessions // 2):
                self.create(self.rng.choice(serving))
            elif x < 0.9 and self.sessions:
                self.release(self.rng.choice(list(self.sessions)))
            elif self.sessions:
                self.sessions[self.rng.choice(list(self.sessions))]["node"] = self.rng.choice(live)
                self.c["moved"] += 1

    # ---- watching ----
    def states(self):
        return [state_of(self.ctl[i].call("state")) if self.alive(i) else None for i in range(self.n)]

    def sample(self, last_created, dt):
        # Sessions created per second at each SMF since the last sample.
        per = [(self.created_at[i] - self.created_last[i]) / dt if dt > 0 else 0.0 for i in range(self.n)]
        self.created_last = list(self.created_at)
        self.per_smf.append(per)
        util = []  # the units sessions hold over the units owned (None: down or recovering)
        for s in self.states():
            held = int(s["in_use"]) - int(s["held_down"]) - int(s["wrap_held"]) if s else 0
            util.append(held / max(1, int(s["owned"])) if s and s["phase"] == "ready" else None)
        rate = (self.c["created"] - last_created) / dt if dt > 0 else 0.0
        self.samples.append((self.now(), util, rate))
        return rate

    def progress(self, phase, rate):
        line = (f"{self.now():6.1f} s  {phase:<10} sessions held {len(self.sessions):6d}  created "
                f"{self.c['created']:7d}  ended {self.c['released']:7d}  moved {self.c['moved']:6d}  "
                f"{rate:7.0f} sessions/s")
        if self.tty:
            sys.stdout.write("\r" + line + "   ")
            sys.stdout.flush()
        else:
            print(line, flush=True)

    def scrape(self, i):
        try:
            page = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port[i]}/metrics", timeout=2).read()
        except OSError:
            return {}
        out = {}
        for line in page.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    # ---- the run ----
    def wait_ready(self, nodes, limit):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            for i in nodes:
                self.answer_held(i)
            st = [state_of(self.ctl[i].call("state")) for i in nodes]
            if all(s is not None and s["phase"] == "ready" for s in st):
                return True
            time.sleep(0.05)
        return False

    def change_membership(self, what, weights):
        """A new membership epoch, given to every SMF (as its configuration would be)."""
        self.weights = weights
        self.epoch += 1
        # The configuration file first, as an operator would: a node that
        # restarts reads the new epoch and weights from it.
        with open(f"{self.work}/set.yaml") as f:
            text = f.read()
        text = re.sub(r"(?m)^epoch: \d+$", f"epoch: {self.epoch}", text)
        for i, w in enumerate(weights):
            text = re.sub(rf"(name: smf{i + 1}, id: {i + 1}, weight: )\d+", rf"\g<1>{w}", text)
        with open(f"{self.work}/set.yaml", "w") as f:
            f.write(text)
        line = f"membership {self.epoch} " + " ".join(f"smf{i + 1}={w}" for i, w in enumerate(weights))
        for i in self.live():
            r = self.ctl[i].call(line)
            if r is None or not r.startswith("ok"):
                raise SystemExit(f"demo: smf{i + 1} refused '{line}': {r}")
        self.events.append((self.now(), what))
        self.pending_move = (what, self.now(), self.epoch)

    def check_settled(self):
        """Once every SMF settled at the epoch last given: the move is done (time and blocks moved)."""
        if self.pending_move is None:
            return
        what, began, epoch = self.pending_move
        states = self.states()
        if not all(s is not None and int(s["epoch"]) == epoch and s["settled"] == "1" for s in states):
            return
        moved = sum(int(s["blocks_moved"]) for s in states) - self.moved_before
        self.moved_before += moved
        self.moves.append((what, self.now() - began, moved))
        self.events.append((self.now(), what.split()[0] + " settled"))
        self.pending_move = None

    def run(self):
        self.config()
        for i in range(self.n):
            self.start(i)
        print(f"demo: {self.n} SMFs (uepool node) on 127.0.0.1, CurveZMQ; their files in {self.work}", flush=True)
        began = time.monotonic()
        if not self.wait_ready(range(self.n), 30):
            return self.fail("the set did not become ready in 30 s")
        self.events.append((self.now(), "set ready"))
        print(f"demo: every SMF ready after {time.monotonic() - began:.2f} s", flush=True)
        duration = self.args.duration
        kill_at = self.now() + duration / 3
        join_at = self.now() + duration * 0.55
        leave_at = self.now() + duration * 0.75
        self.pending_move, self.moved_before = None, 0
        joined = left = False
        end = self.now() + duration
        last_sample, last_created, last_print, rate = self.now(), 0, 0.0, 0.0
        churn_start, created_at_start = self.now(), self.c["created"]
        while self.now() < end and not self.conflicts:
            if self.killed is None and self.now() >= kill_at:
                self.killed = self.rng.randrange(self.n)
                k = self.killed
                self.procs[k].send_signal(signal.SIGKILL)
                self.procs[k].wait()
                self.procs[k] = None
                self.ctl[k].close()
                for s in self.sessions.values():  # its sessions are taken over by the others
                    if s["node"] == k:
                        s["node"] = self.rng.choice([j for j in range(self.n) if j != k])
                        self.c["moved"] += 1
                self.events.append((self.now(), f"smf{k + 1} killed"))
                self.kill_time = self.now()
                self.restart_due = self.now() + 1.0
            if self.killed is not None and self.procs[self.killed] is None and self.now() >= self.restart_due:
                self.start(self.killed, fresh=False)
                self.restart_time = self.now()
                self.events.append((self.now(), f"smf{self.killed + 1} restarted"))
            if self.killed is not None and self.recovery is None and self.alive(self.killed):
                s = state_of(self.ctl[self.killed].call("state"))
                if s is not None and s["phase"] == "ready":
                    self.recovery = self.now() - self.restart_time
                    self.events.append((self.now(), f"smf{self.killed + 1} recovered"))
            if not joined and self.now() >= join_at and self.pending_move is None:
                joined = True
                w = list(self.weights)
                w[self.n - 1] = 1
                self.change_membership(f"smf{self.n} joins", w)
            if joined and not left and self.now() >= leave_at and self.pending_move is None:
                left = True
                self.leaver = next(i for i in range(self.n) if i != self.killed and self.weights[i] > 0)
                w = list(self.weights)
                w[self.leaver] = 0
                self.change_membership(f"smf{self.leaver + 1} leaves", w)
            self.check_settled()
            for i in self.live():
                self.answer_held(i)
            self.churn(50)
            if self.now() - last_sample >= 0.5:
                rate = self.sample(last_created, self.now() - last_sample)
                last_sample, last_created = self.now(), self.c["created"]
            if self.now() - last_print >= (0.25 if self.tty else 5.0):
                self.progress("churn", rate)
                last_print = self.now()
        churn_seconds = self.now() - churn_start
        self.churn_rate = (self.c["created"] - created_at_start) / churn_seconds
        if self.tty:
            print()
        if self.conflicts:
            return self.fail("a unit held twice: " + self.conflicts[0])
        return self.settle()

    def settle(self):
        self.events.append((self.now(), "quiet, audit"))
        for i in range(self.n):
            if not self.alive(i):
                self.start(i, fresh=False)
        deadline = time.monotonic() + 60
        audited, good, last = set(), 0, None
        while time.monotonic() < deadline:
            for i in range(self.n):
                self.answer_held(i)
            self.check_settled()
            states = self.states()
            if all(s is not None and s["phase"] == "ready" and s["settled"] == "1" and int(s["epoch"]) == self.epoch
                   for s in states):
                for i in range(self.n):
                    if i not in audited and self.ctl[i].call("audit") == "ok":
                        audited.add(i)
                # The units in use across the set (held-down ones aside) are the units the sessions hold.
                in_use = sum(int(s["in_use"]) - int(s["held_down"]) - int(s["wrap_held"]) for s in states)
                done = all(int(s["audits"]) >= 1 and s["auditing"] == "0" for s in states)
                last = in_use - len(self.holder)
                good = good + 1 if done and last == 0 else 0
                if good >= 3:
                    return self.report(states)
            if self.now() - self.samples[-1][0] >= 0.5 if self.samples else True:
                self.sample(self.c["created"], 0.5)
            time.sleep(0.1)
        return self.fail(f"not settled in 60 s: units in use minus units sessions hold, across the set: {last}")

    def report(self, states):
        self.events.append((self.now(), "checks done"))
        m = [self.scrape(i) for i in range(self.n)]
        print("\nuepool demo — report")
        print(f"  SMFs                  {self.n} (uepool node processes, CurveZMQ on loopback)")
        print(f"  sessions served       {self.c['created']} dual-stack (IPv4 + IPv6 /64), {self.c['released']} ended, "
              f"{self.c['moved']} taken over by another SMF, {len(self.sessions)} still held")
        print(f"  allocations           {2 * self.churn_rate:.0f} units/s through the control sockets "
              f"(one client: the driver's pace, not the engine's; `uepool bench` measures that)")
        sent = [v for i in range(self.n) for k, v in m[i].items()
                if k.startswith("uepool_records_per_frame") and 'direction="sent"' in k]
        if sent:
            print(f"  records per frame     {min(sent):.1f}..{max(sent):.1f} (releases and usage batched per frame)")
        dropped = {}
        for i in range(self.n):
            for k, v in m[i].items():
                if k.startswith("uepool_releases_dropped_total") or k.startswith("uepool_releases_refused_total"):
                    reason = k.split('reason="')[1].split('"')[0]
                    dropped[reason] = dropped.get(reason, 0) + int(v)
        print("  releases not applied  " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) +
              " (lost ones leave their unit in use until the audit frees it)")
        rec = ""
        if self.killed is not None:
            rec = (f"smf{self.killed + 1} killed at {self.kill_time:.1f} s, restarted 1 s later, ready again after "
                   f"{self.recovery:.2f} s" if self.recovery is not None else
                   f"smf{self.killed + 1} killed; recovered during the quiet phase")
        print(f"  recovery              {rec}")
        for what, secs, moved in self.moves:
            print(f"  blocks moved          {moved} when {what} (every SMF settled at the new epoch after {secs:.2f} s)")
        if len(self.moves) < 2:
            print("  blocks moved          a membership change had not settled when the churn ended (see above)")
        for i, s in enumerate(states):
            waiting = int(s["held_down"]) + int(s["wrap_held"])
            held = int(s["in_use"]) - waiting
            role = " (left)" if self.weights[i] == 0 else (" (joined)" if i == self.n - 1 else "")
            print(f"  smf{i + 1}{role:<18} generation {s['generation']}, {s['owned']} units owned, {held} held "
                  f"by sessions ({100 * held / max(1, int(s['owned'])):.2f} %), {waiting} waiting out a hold-down "
                  f"or the release repeat window, audits {s['audits']}, audit freed {s['audit_freed']}, stale "
                  f"releases refused {s['stale_releases']}")
        print(f"  held-list reads       {self.c['held_lists']} (the audit and recovery reading the session store)")
        print(f"  allocations refused   {self.c['refused']} (not ready: mostly the killed SMF's own clients)")
        chart = self.chart()
        print(f"  chart                 {chart}")
        print("  checks                no unit held twice: yes; every SMF ready and settled at the last epoch: yes; "
              "nothing leaked: yes")
        return 0

    def chart(self):
        path = os.path.abspath(self.args.chart)
        w, h, left, right, top = 900, 540, 60, 150, 30
        ph = (h - top - 60) // 2
        tmax = max(t for t, _, _ in self.samples) if self.samples else 1.0
        rmax = max([r for _, _, r in self.samples] + [1.0])
        umax = max([u for _, us, _ in self.samples for u in us if u is not None] + [0.01])
        colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

        def x(t):
            return left + (w - left - right) * t / tmax

        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
               f'font-size="12"><rect width="{w}" height="{h}" fill="white"/>',
               f'<text x="{left}" y="18" font-size="13">uepool demo, {self.n} SMFs: units held / units owned per SMF '
               f'(gap: down); sessions created per second, all and per SMF</text>']
        for k, (label, y0, vmax, fmt) in enumerate([("utilization", top, umax, "{:.2%}"),
                                                    ("sessions/s", top + ph + 40, rmax, "{:.0f}")]):
            out.append(f'<rect x="{left}" y="{y0}" width="{w - left - right}" height="{ph}" fill="none" '
                       f'stroke="#999"/>')
            out.append(f'<text x="5" y="{y0 + 12}">{label}</text>')
            out.append(f'<text x="5" y="{y0 + 28}">{fmt.format(vmax)}</text>')
            out.append(f'<text x="5" y="{y0 + ph}">0</text>')
            series = []
            if k == 0:
                for i in range(self.n):
                    series.append((f"smf{i + 1}", colors[i % len(colors)],
                                   [(t, us[i] if i < len(us) else None) for t, us, _ in self.samples]))
            else:
                series.append(("all SMFs", "#333", [(t, r) for t, _, r in self.samples]))
                for i in range(self.n):  # each SMF's, on the same scale (below the total)
                    series.append((f"smf{i + 1}", colors[i % len(colors)],
                                   [(t, per[i]) for (t, _, _), per in zip(self.samples, self.per_smf)]))
            for j, (name, color, pts) in enumerate(series):
                runs, run = [], []  # a line per stretch the SMF was up and ready
                for t, v in pts:
                    if v is None:
                        runs, run = runs + [run], []
                    else:
                        run.append((t, v))
                for r in runs + [run]:
                    if len(r) > 1:
                        d = " ".join(f"{x(t):.1f},{y0 + ph - ph * v / vmax:.1f}" for t, v in r)
                        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{d}"/>')
                out.append(f'<text x="{w - right + 10}" y="{y0 + 14 + 16 * j}" fill="{color}">{name}</text>')
        for e, (t, text) in enumerate(self.events):
            ty = h - 22 + 10 * (e % 3) - 10  # staggered: events a second apart stay readable
            out.append(f'<line x1="{x(t):.1f}" y1="{top}" x2="{x(t):.1f}" y2="{h - 30}" stroke="#c00" '
                       f'stroke-dasharray="4,3"/>')
            out.append(f'<text x="{x(t) + 3:.1f}" y="{ty}" fill="#c00" font-size="10">{text}</text>')
        out.append(f'<text x="{w - right - 40}" y="{h - 2}">time (s), 0..{tmax:.0f}</text></svg>')
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")
        return path

    def fail(self, why):
        print(f"\ndemo: FAILED: {why}")
        for i in range(self.n):
            log = f"{self.work}/smf{i + 1}.log"
            if os.path.exists(log):
                with open(log) as f:
                    tail = f.read().splitlines()[-5:]
                print(f"  smf{i + 1}.log: " + " | ".join(tail))
        return 1


def main():
    ap = argparse.ArgumentParser(prog="uepool demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the uepool program")
    ap.add_argument("--members", type=int, default=4, help="SMFs serving from the start (2..7); one more joins")
    ap.add_argument("--sessions", type=int, default=2000, help="sessions held at once, at most")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of churn")
    ap.add_argument("--config", help="a set configuration whose pools (and settings) to use; members are the demo's")
    ap.add_argument("--chart", default="uepool-demo.svg", help="where the SVG chart goes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the nodes' folder (logs, configuration)")
    args = ap.parse_args()
    if not 2 <= args.members <= 7 or args.sessions < 10 or args.duration < 3:
        print("uepool demo: --members 2..7, --sessions at least 10, --duration at least 3", file=sys.stderr)
        return 2
    if args.config and not os.path.isfile(args.config):
        print(f"uepool demo: {args.config}: no such file", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="uepool-demo-")
    demo = Demo(args, work)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        return demo.run()
    except KeyboardInterrupt:
        print("\ndemo: interrupted; stopping every SMF")
        return 130
    finally:
        demo.stop_all()
        if args.keep:
            print(f"demo: the nodes' files are in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
