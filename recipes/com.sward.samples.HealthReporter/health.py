#!/usr/bin/env python3
"""com.sward.samples.HealthReporter: a Sward component written with nothing
but the Python standard library and the plain NATS text protocol.

It proves that any client can be a component: it logs in with the credential
the nucleus put in its environment, asks for its own configuration with a
request/reply on $SWARD_IPC_PREFIX.GetConfiguration (the reply comes on its
private inbox $SWARD_INBOX_PREFIX), then publishes a health record on
sward/<thing>/health (NATS subject sward.<thing>.health) every
intervalSeconds. When the nucleus's listeners use TLS, it upgrades the
connection after INFO, verifying the nucleus with the CA bundle in
$SWARD_NATS_CA (and $SWARD_TLS_SERVER_NAME when set).
"""
import json
import os
import signal
import socket
import ssl
import sys
import time


class NATS:
    """The few NATS protocol verbs a component needs, over one socket."""

    def __init__(self, url, user, password, name, cafile="", server_name=""):
        host, port = url.replace("nats://", "").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buf = b""
        self.sid = 0
        info = self._line()
        if not info.startswith(b"INFO "):
            raise RuntimeError("not a NATS server: %r" % info[:40])
        if json.loads(info[5:]).get("tls_required"):
            if not cafile:
                raise RuntimeError("the broker requires TLS but SWARD_NATS_CA is not set")
            ctx = ssl.create_default_context(cafile=cafile)
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_name or host)
        connect = {"verbose": False, "pedantic": False, "name": name, "lang": "python-stdlib",
                   "version": "1.0.0", "protocol": 1, "user": user, "pass": password}
        self.sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        reply = self._line()
        if reply.startswith(b"-ERR"):
            raise RuntimeError("login refused: %s" % reply.decode())

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed by the broker")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _payload(self, size):
        while len(self.buf) < size + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed by the broker")
            self.buf += chunk
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        return data

    def publish(self, subject, data, reply=""):
        head = "PUB %s %s %d\r\n" % (subject, reply, len(data)) if reply else "PUB %s %d\r\n" % (subject, len(data))
        self.sock.sendall(head.encode() + data + b"\r\n")

    def request(self, subject, data, inbox, timeout=5.0):
        self.sid += 1
        reply = "%s.%d" % (inbox, self.sid)
        self.sock.sendall(("SUB %s %d\r\nUNSUB %d 1\r\n" % (reply, self.sid, self.sid)).encode())
        self.publish(subject, data, reply)
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                parts = line.split()
                data = self._payload(int(parts[-1]))
                if parts[1].decode() == reply:
                    return data
            elif line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())
        raise TimeoutError("no reply to %s" % subject)

    def ping(self):
        """Answers the server's keep-alive pings that arrived meanwhile."""
        self.sock.setblocking(False)
        try:
            self.buf += self.sock.recv(65536)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            pass  # nothing waiting (a TLS socket says so with SSLWantReadError)
        finally:
            self.sock.setblocking(True)
        while b"\r\n" in self.buf:
            if self._line() == b"PING":
                self.sock.sendall(b"PONG\r\n")


def health(interval):
    rec = {"time": int(time.time() * 1000), "intervalSeconds": interval}
    try:
        with open("/proc/loadavg") as f:
            rec["load1"] = float(f.read().split()[0])
        with open("/proc/uptime") as f:
            rec["uptimeSeconds"] = float(f.read().split()[0])
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    rec["memAvailableKB"] = int(line.split()[1])
    except OSError:
        pass
    return rec


def main():
    # The variable names are the component environment contract, defined once
    # in Go as shared/ipc's Env* constants (EnvComponentName, EnvThingName,
    # EnvNATSURL, EnvNATSUser, EnvNATSPassword, EnvNATSCA, EnvTLSServerName,
    # EnvIPCPrefix, EnvInboxPrefix); Python cannot import them, so keep these
    # strings in step with that list.
    env = os.environ
    name = env["SWARD_COMPONENT_NAME"]
    thing = env.get("AWS_IOT_THING_NAME", "unknown")
    nc = NATS(env["SWARD_NATS_URL"], env["SWARD_NATS_USER"], env["SWARD_NATS_PASSWORD"], name,
              env.get("SWARD_NATS_CA", ""), env.get("SWARD_TLS_SERVER_NAME", ""))
    answer = json.loads(nc.request(env["SWARD_IPC_PREFIX"] + ".GetConfiguration",
                                   json.dumps({"keyPath": ["intervalSeconds"]}).encode(),
                                   env["SWARD_INBOX_PREFIX"]))
    if "error" in answer:
        print(json.dumps({"level": "ERROR", "msg": "GetConfiguration failed", "error": answer["error"]}), flush=True)
        sys.exit(1)
    interval = float(answer["value"]["intervalSeconds"])
    subject = "sward.%s.health" % thing
    print(json.dumps({"level": "INFO", "msg": "reporting", "subject": subject, "intervalSeconds": interval}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        nc.publish(subject, json.dumps(health(interval)).encode())
        nc.ping()
        time.sleep(interval)


if __name__ == "__main__":
    main()
