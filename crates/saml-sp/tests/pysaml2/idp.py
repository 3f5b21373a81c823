"""An independent IdP for Passerelle's interoperability tests: pysaml2 (PyPI) answers an
AuthnRequest of ours for our SP metadata, signing and encrypting through the xmlsec1
binary. Usage:

    idp.py SP_METADATA IDP_KEY IDP_CERT REQUEST_ID MODE SP_ENTITY ACS [CLASS_REF]
        > SAMLResponse (base64)

CLASS_REF: the AuthnContextClassRef asserted (default PasswordProtectedTransport; e.g.
https://refeds.org/profile/mfa for a university that did MFA).

MODE: sha1-default | signed-response | signed-assertion | enc-<cipher> where cipher is one of
aes128-cbc, aes256-cbc, aes128-gcm, aes256-gcm (the encrypted assertion is signed, and the
response too for CBC, as an SP must demand).
"""

import base64
import functools
import sys

import saml2.entity
from saml2 import sigver
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

IDP = "https://idp.pysaml2.test/idp"
PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
SESSION_KEYS = {"aes128": "aes-128", "aes256": "aes-256"}
CIPHERS = {
    "aes128-cbc": "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "aes256-cbc": "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "aes128-gcm": "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "aes256-gcm": "http://www.w3.org/2009/xmlenc11#aes256-gcm",
}


def main():
    sp_metadata, key, cert, request_id, mode, sp_entity, acs = sys.argv[1:8]
    class_ref = sys.argv[8] if len(sys.argv) > 8 else PASSWORD_PROTECTED
    config = IdPConfig()
    config.load(
        {
            "entityid": IDP,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [
                            (IDP + "/sso", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
                        ]
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 15},
                            "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                        }
                    },
                }
            },
            "key_file": key,
            "cert_file": cert,
            "metadata": {"local": [sp_metadata]},
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "encryption_keypairs": [{"key_file": key, "cert_file": cert}],
        }
    )
    server = Server(config=config)
    identity = {
        "mail": ["camille.dupont@etu.pysaml2.test"],
        "givenName": ["Camille"],
        "sn": ["Dupont"],
        "eduPersonPrincipalName": ["cdupont@pysaml2.test"],
        "eduPersonAffiliation": ["student"],
    }
    name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, text="pysaml2-persistent-4711")
    options = dict(
        sign_response=False,
        sign_assertion=False,
        encrypt_assertion=False,
        sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
    )
    if mode == "sha1-default":
        # pysaml2's own defaults: RSA-SHA1, which Passerelle must refuse.
        options.update(sign_response=True)
        del options["sign_alg"], options["digest_alg"]
    elif mode == "signed-response":
        options.update(sign_response=True)
    elif mode == "signed-assertion":
        options.update(sign_assertion=True)
    elif mode.startswith("enc-"):
        cipher = CIPHERS[mode[4:]]
        # pysaml2 defaults to 3DES (template and xmlsec1 session key): choose ours.
        saml2.entity.pre_encryption_part = functools.partial(sigver.pre_encryption_part, msg_enc=cipher)
        server.sec.encrypt_assertion = functools.partial(
            server.sec.encrypt_assertion, key_type=SESSION_KEYS[mode[4:10]]
        )
        options.update(encrypt_assertion=True, sign_assertion=True, sign_response="cbc" in mode)
    else:
        raise SystemExit(f"unknown mode {mode}")
    response = server.create_authn_response(
        identity,
        in_response_to=request_id,
        destination=acs,
        sp_entity_id=sp_entity,
        name_id=name_id,
        authn={"class_ref": class_ref},
        **options,
    )
    sys.stdout.write(base64.b64encode(str(response).encode()).decode())


if __name__ == "__main__":
    main()
