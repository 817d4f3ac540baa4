#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/keys.hpp"

// JSON Web Signatures as ACME uses them (RFC 8555 §6.2, RFC 7515, RFC 7518, RFC 7638):
// base64url, the JWK of an account's public key and its thumbprint, the flattened JWS JSON
// of every ACME POST, and External Account Binding (RFC 8555 §7.3.4). Signing goes through
// keys::PrivateKey; no key bytes pass through here, except the EAB MAC key, which lives in a
// wiped buffer while it is used.

namespace cdm::jws {

// base64url without padding (RFC 7515 §2).
std::string base64url(std::span<const std::uint8_t> data);
std::string base64url(std::string_view data);
// The bytes of base64url text (padding '=' tolerated). Throws Error(Exit::DataErr) for other
// characters or an impossible length; the message never repeats the text.
std::vector<std::uint8_t> base64urlDecode(std::string_view text);

// The JWS "alg" for a key: "RS256" (RSA), "ES256" (ECDSA P-256), "ES384" (ECDSA P-384).
// Throws Error(Exit::DataErr) for Ed25519.
std::string_view algorithmFor(keys::Algorithm algorithm);

// The JWK (RFC 7517) of a public key given as SubjectPublicKeyInfo DER: {"e","kty":"RSA","n"}
// or {"crv":"P-256"|"P-384","kty":"EC","x","y"}, just the required members. Throws
// Error(Exit::DataErr) for other key types.
boost::json::object jwk(const std::vector<std::uint8_t>& spki);
// The JWK's required members in lexicographic order without white space (RFC 7638 §3),
// what the thumbprint is taken over.
std::string canonicalJwk(const boost::json::object& jwk);
// base64url(SHA-256(canonicalJwk(jwk))) (RFC 7638).
std::string thumbprint(const boost::json::object& jwk);

// A flattened JWS JSON object {"protected","payload","signature"} signed by `key`, whose
// protected header is {"alg", "nonce", "url"} plus "kid" when `kid` is not empty, else
// "jwk" (the key's own JWK: newAccount). `payload` is the JSON text to sign; empty for
// POST-as-GET (RFC 8555 §6.3), which signs an empty payload.
std::string sign(const keys::PrivateKey& key, std::string_view url, std::string_view nonce,
                 std::string_view kid, std::string_view payload);

// The externalAccountBinding member of a newAccount payload (RFC 8555 §7.3.4): a JWS over
// `accountJwk` with protected header {"alg":"HS256","kid":eabKid,"url":url}, MACed with
// HMAC-SHA256 under the base64url-decoded `hmacKey`. Throws Error(Exit::Config) when the key
// is not base64url or empty; the message never contains it.
boost::json::object externalAccountBinding(const boost::json::object& accountJwk,
                                           std::string_view eabKid, std::string_view hmacKey,
                                           std::string_view url);

} // namespace cdm::jws
