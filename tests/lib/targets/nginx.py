"""nginx: Debian's nginx as a probe target, on free ports, with its own config in a temp dir.

    ng = Nginx(dir, tls={"valid": (crt, key), ...}, access_log=True).start(env)
    ng.http_port, ng.tls_ports["valid"], ng.url("/200"), ng.stop()

Plain HTTP on 127.0.0.1 and [::1] (http_port), one TLS server per certificate (tls_ports).
Every server answers the same locations:
  /200        200 "hello from nginx: status healthy version=1.22"
  /204        204            /404 404        /500 500
  /301        301 -> /200    /301to404  301 -> /404    /loop  302 -> /loop (forever)
  /bench      200 "ok" (the benchmark's target)
With access_log=True every request is logged to access.log as "$msec $request_uri $status"
($msec: when the request was logged, seconds with millisecond resolution).
"""
import os
import socket
import subprocess
import time

NGINX_BIN = "/usr/sbin/nginx"

_LOCATIONS = r"""
        location = /200 { default_type text/plain;
                          return 200 "hello from nginx: status healthy version=1.22\n"; }
        location = /204 { return 204; }
        location = /301 { return 301 /200; }
        location = /301to404 { return 301 /404; }
        location = /404 { return 404; }
        location = /500 { return 500; }
        location = /loop { return 302 /loop; }
        location = /bench { default_type text/plain; return 200 "ok\n"; }
        location / { return 404; }
"""


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _has_v6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Nginx:
    def __init__(self, d, tls=None, access_log=False, workers=1):
        self.dir = d
        self.tls = dict(tls or {})
        self.access_log = os.path.join(d, "access.log") if access_log else None
        self.workers = workers
        self.http_port = _free_port()
        self.tls_ports = {name: _free_port() for name in self.tls}
        self.proc = None
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)

    def url(self, path, tls=None, host="127.0.0.1"):
        if tls:
            return "https://%s:%d%s" % (host, self.tls_ports[tls], path)
        return "http://%s:%d%s" % (host, self.http_port, path)

    def _listen(self, port, ssl=False):
        hosts = ["127.0.0.1"] + (["[::1]"] if _has_v6_loopback() else [])
        return "".join("        listen %s:%d%s;\n" % (h, port, " ssl" if ssl else "")
                       for h in hosts)

    def config(self):
        d = self.dir
        log = ("log_format t '$msec $request_uri $status';\n    access_log %s t;"
               % self.access_log) if self.access_log else "access_log off;"
        user = "user root root;\n" if os.geteuid() == 0 else ""
        servers = "    server {\n%s%s    }\n" % (self._listen(self.http_port), _LOCATIONS)
        for name, (crt, key) in self.tls.items():
            servers += ("    server {\n%s        ssl_certificate %s;\n"
                        "        ssl_certificate_key %s;\n%s    }\n"
                        % (self._listen(self.tls_ports[name], True), crt, key, _LOCATIONS))
        return """{user}worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    {log}
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_requests 100000;
{servers}}}
""".format(user=user, workers=self.workers, d=d, log=log, servers=servers)

    def start(self, env=None, timeout=10.0):
        """Writes the config and starts nginx in the foreground: as a harness Proc when env
        (a harness.TestEnv) is given, else as a plain subprocess. Waits for every port."""
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self.config())
        argv = [NGINX_BIN, "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                "-c", conf, "-g", "daemon off;"]
        if env is not None:
            self.proc = env.proc("nginx", argv).start()
        else:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        for port in [self.http_port] + list(self.tls_ports.values()):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("nginx did not listen on %d within %.0f s: %s" % (
                            port, timeout, open(os.path.join(self.dir, "error.log")).read()))
                    time.sleep(0.02)
        return self

    def stop(self):
        if self.proc is None:
            return
        if hasattr(self.proc, "stop"):
            self.proc.stop()
        else:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
