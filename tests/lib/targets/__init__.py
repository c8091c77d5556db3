"""targets: local probe targets for the differential test and the benchmark (stdlib only).

    certs.make_pki(dir)      a test CA and leaf certificates (valid, near expiry, expired,
                             wrong host, self-signed) made with the openssl CLI
    nginx.Nginx(dir, ...)    Debian's nginx on free ports with its own config in a temp dir
    servers.*                small servers of the tests' own: a slow HTTP reply, a TCP banner
"""
