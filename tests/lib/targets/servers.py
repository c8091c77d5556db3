"""servers: small targets of the tests' own, each in a daemon thread of the test process
(except the DNS server, tests/lib/dns_server.py, which runs as a child process).

    SlowHttp(delay).start()   answers every request with 200 "slow" after `delay` seconds
    Banner().start()          TCP: sends "220 statusd-test ready\r\n" on connect; a line
                              "PING" is answered "+PONG"; closes after 1 s of silence
    DnsServer().start()       tests/lib/dns_server.py on 127.0.0.1 (zone in that file)
Each has .port and .stop().
"""
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseRequestHandler, ThreadingTCPServer

_LIB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SlowHttp:
    def __init__(self, delay):
        self.delay = delay
        self.srv = None
        self.port = None

    def start(self):
        delay = self.delay

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                time.sleep(delay)
                body = b"slow\n"
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the prober gave up first, as it should

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None


class Banner:
    BANNER = b"220 statusd-test ready\r\n"

    def __init__(self):
        self.srv = None
        self.port = None

    def start(self):
        banner = self.BANNER

        class H(BaseRequestHandler):
            def handle(self):
                s = self.request
                try:
                    s.sendall(banner)
                    s.settimeout(1.0)
                    buf = b""
                    while b"\n" not in buf and len(buf) < 4096:
                        chunk = s.recv(1024)
                        if not chunk:
                            return
                        buf += chunk
                    if buf.strip() == b"PING":
                        s.sendall(b"+PONG\r\n")
                    else:
                        s.sendall(b"-ERR unknown command\r\n")
                except OSError:
                    pass

        ThreadingTCPServer.allow_reuse_address = True
        self.srv = ThreadingTCPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None


class DnsServer:
    def __init__(self):
        self.p = None
        self.port = None

    def start(self, timeout=10.0):
        self.p = subprocess.Popen([sys.executable, os.path.join(_LIB, "dns_server.py")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        line = self.p.stdout.readline().decode()
        if not line.startswith("PORT ") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError("dns_server.py did not start: %r" % line)
        self.port = int(line.split()[1])
        return self

    def stop(self):
        if self.p:
            try:
                self.p.stdin.close()  # it serves until stdin closes
                self.p.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()
            self.p.stdout.close()
            self.p = None
