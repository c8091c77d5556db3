"""certs: a throw-away PKI made with the openssl CLI.

make_pki(dir) returns a dict of paths:
  ca            CA certificate (PEM): trust it with SSL_CERT_FILE / tls_config.ca_file
  valid         cert+key for localhost, 127.0.0.1, ::1, valid for 365 days
  near          same names, valid for 5 more days only
  expired       same names, valid from 2020-01-01 to 2020-02-01
  wronghost     valid for 365 days, but for wrong.example only
  selfsigned    self-signed for localhost (not issued by the CA)
Each leaf is a (cert, key) tuple. Takes about 0.3 s (EC P-256 keys).
"""
import os
import subprocess

_CA_CNF = """
[ca]
default_ca = CA_default
[CA_default]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = pol
copy_extensions = copy
unique_subject = no
email_in_dn = no
[pol]
commonName = supplied
"""

_LOCAL_SAN = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"


def _run(argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), r.stdout.decode(errors="replace")))


def _key(path):
    _run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-out", path])


def make_pki(d):
    os.makedirs(os.path.join(d, "newcerts"), exist_ok=True)
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    cnf = os.path.join(d, "ca.cnf")
    with open(cnf, "w") as f:
        f.write(_CA_CNF.format(dir=d))
    ca, cakey = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    _key(cakey)
    _run(["openssl", "req", "-x509", "-new", "-key", cakey, "-out", ca, "-days", "30",
          "-subj", "/CN=statusd test CA", "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    out = {"ca": ca}

    def leaf(name, cn, san, dates):
        key, csr, crt = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".pem"))
        _key(key)
        _run(["openssl", "req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + cn,
              "-addext", san])
        _run(["openssl", "ca", "-batch", "-notext", "-config", cnf, "-cert", ca,
              "-keyfile", cakey, "-in", csr, "-out", crt] + dates)
        out[name] = (crt, key)

    leaf("valid", "localhost", _LOCAL_SAN, ["-days", "365"])
    leaf("near", "localhost", _LOCAL_SAN, ["-days", "5"])
    leaf("expired", "localhost", _LOCAL_SAN,
         ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"])
    leaf("wronghost", "wrong.example", "subjectAltName=DNS:wrong.example", ["-days", "365"])
    key, crt = os.path.join(d, "selfsigned.key"), os.path.join(d, "selfsigned.pem")
    _key(key)
    _run(["openssl", "req", "-x509", "-new", "-key", key, "-out", crt, "-days", "365",
          "-subj", "/CN=localhost", "-addext", _LOCAL_SAN])
    out["selfsigned"] = (crt, key)
    return out
