"""The certificate authority: the hierarchy, certificate profiles, issue and revocation, CRL, OCSP and TSA."""
