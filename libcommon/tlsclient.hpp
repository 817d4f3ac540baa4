#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/x509.hpp"

// A TLS client that only looks: it connects (directly or after a STARTTLS dialogue),
// completes the handshake without judging the certificate, and returns the chain the
// server presented. Judging is the caller's job (DANE: libcommon/tlsa, cdm-tlsa check).

namespace cdm::tlsclient {

enum class StartTls { None, Smtp, Submission, Lmtp, Imap, Pop3, Xmpp };
// "smtp", "submission", "lmtp", "imap", "pop3", "xmpp" (or "none"); throws Error(Exit::Usage).
StartTls parseStartTls(std::string_view text);

// Which certificate to ask for, by the signature algorithms the client offers: a server
// with both an RSA and an ECDSA certificate shows each to the matching probe.
enum class KeyFamily { Any, Rsa, Ecdsa };
std::string_view toString(KeyFamily family);

struct Probe {
    std::string address; // IP literal to connect to
    std::uint16_t port = 443;
    std::string serverName; // SNI, the EHLO name's domain for XMPP
    StartTls starttls = StartTls::None;
    KeyFamily family = KeyFamily::Any;
    std::chrono::milliseconds timeout{10000};
};

struct Presented {
    std::vector<x509::Certificate> chain; // leaf first, as the server sent it
    std::string protocol;                 // "TLSv1.3"
    std::string cipher;
};

// Throws Error(Exit::Unavailable) naming the address and the step that failed (connect,
// the STARTTLS dialogue with the server's reply, or the handshake with OpenSSL's reason).
Presented connect(const Probe& probe);

} // namespace cdm::tlsclient
