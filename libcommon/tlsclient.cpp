#include "libcommon/tlsclient.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "libcommon/error.hpp"
#include "libcommon/ossl.hpp"

namespace cdm::tlsclient {

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// A socket that closes itself.
class Socket {
public:
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

[[noreturn]] void unavailable(const Probe& p, const std::string& what) {
    throw Error(Exit::Unavailable, p.address + " port " + std::to_string(p.port) + ": " + what);
}

int connectWithTimeout(const Probe& p) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (inet_pton(AF_INET, p.address.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(p.port);
        len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, p.address.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(p.port);
        len = sizeof(sockaddr_in6);
    } else {
        throw Error(Exit::Usage, "address " + quoted(p.address) + " is not an IP address");
    }
    const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        unavailable(p, std::string("unable to create a socket: ") + std::strerror(errno));
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS) {
        const int e = errno;
        ::close(fd);
        unavailable(p, std::string("unable to connect: ") + std::strerror(e));
    }
    pollfd pfd{fd, POLLOUT, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(p.timeout.count()));
    int err = 0;
    socklen_t errLen = sizeof(err);
    if (ready <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errLen) != 0 || err != 0) {
        ::close(fd);
        unavailable(p, ready <= 0 ? std::string("connect timed out")
                                  : std::string("unable to connect: ") + std::strerror(err));
    }
    // Blocking from here on, with the timeout on every read and write.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(p.timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((p.timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

// Line-oriented plain-text dialogue before TLS starts.
class Dialogue {
public:
    Dialogue(int fd, const Probe& probe) : fd_(fd), probe_(probe) {}

    void send(const std::string& text) {
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::send(fd_, text.data() + done, text.size() - done, MSG_NOSIGNAL);
            if (n <= 0) {
                unavailable(probe_, "STARTTLS: the connection closed while sending");
            }
            done += static_cast<std::size_t>(n);
        }
    }

    // One line without CR LF. Reads byte by byte so that nothing of the TLS handshake that
    // follows is consumed here.
    std::string line() {
        std::string out;
        char c = 0;
        while (out.size() < 4096) {
            const ssize_t n = ::recv(fd_, &c, 1, 0);
            if (n <= 0) {
                unavailable(probe_, "STARTTLS: the server closed the connection or timed out" +
                                        (out.empty() ? std::string() : " after " + quoted(out)));
            }
            if (c == '\n') {
                if (!out.empty() && out.back() == '\r') {
                    out.pop_back();
                }
                return out;
            }
            out += c;
        }
        unavailable(probe_, "STARTTLS: a line longer than 4096 bytes");
    }

    // SMTP/LMTP replies: "250-..." continues, "250 ..." ends. Returns the last line.
    std::string smtpReply(const char* expect) {
        while (true) {
            const std::string l = line();
            if (l.size() < 4 || l.compare(0, 3, expect) != 0) {
                unavailable(probe_, std::string("STARTTLS: expected ") + expect + ", the server said " + quoted(l));
            }
            if (l[3] == ' ') {
                return l;
            }
        }
    }

    // Read until `needle` appears (XMPP's XML is not line-based).
    void until(const std::string& needle, const char* what) {
        std::string seen;
        char c = 0;
        while (seen.size() < 65536) {
            const ssize_t n = ::recv(fd_, &c, 1, 0);
            if (n <= 0) {
                unavailable(probe_, std::string("STARTTLS: no ") + what + " from the server");
            }
            seen += c;
            if (seen.find(needle) != std::string::npos) {
                return;
            }
            if (seen.find("<failure") != std::string::npos && seen.find('>') != std::string::npos &&
                seen.rfind("<failure") < seen.rfind('>')) {
                unavailable(probe_, "STARTTLS: the XMPP server refused STARTTLS");
            }
        }
        unavailable(probe_, std::string("STARTTLS: no ") + what + " in 64 KiB");
    }

private:
    int fd_;
    const Probe& probe_;
};

void startTls(int fd, const Probe& p) {
    Dialogue d(fd, p);
    switch (p.starttls) {
    case StartTls::None:
        return;
    case StartTls::Smtp:
    case StartTls::Submission:
    case StartTls::Lmtp:
        d.smtpReply("220");
        d.send(std::string(p.starttls == StartTls::Lmtp ? "LHLO" : "EHLO") + " cdm-tlsa.invalid\r\n");
        d.smtpReply("250");
        d.send("STARTTLS\r\n");
        d.smtpReply("220");
        return;
    case StartTls::Imap: {
        const std::string greeting = d.line();
        if (greeting.rfind("* OK", 0) != 0) {
            unavailable(p, "STARTTLS: expected '* OK', the server said " + quoted(greeting));
        }
        d.send("a1 STARTTLS\r\n");
        while (true) {
            const std::string l = d.line();
            if (l.rfind("a1 ", 0) == 0) {
                if (l.rfind("a1 OK", 0) != 0) {
                    unavailable(p, "STARTTLS: the IMAP server said " + quoted(l));
                }
                return;
            }
        }
    }
    case StartTls::Pop3: {
        const std::string greeting = d.line();
        if (greeting.rfind("+OK", 0) != 0) {
            unavailable(p, "STARTTLS: expected '+OK', the server said " + quoted(greeting));
        }
        d.send("STLS\r\n");
        const std::string reply = d.line();
        if (reply.rfind("+OK", 0) != 0) {
            unavailable(p, "STARTTLS: the POP3 server said " + quoted(reply));
        }
        return;
    }
    case StartTls::Xmpp:
        d.send("<?xml version='1.0'?><stream:stream to='" + p.serverName +
               "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
        d.until("</stream:features>", "stream features");
        d.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        d.until("<proceed", "<proceed/>");
        d.until(">", "end of <proceed/>");
        return;
    }
}

std::string sslErrors() {
    std::string out;
    unsigned long e = 0;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        out += (out.empty() ? "" : "; ") + std::string(buf);
    }
    return out.empty() ? "handshake failed" : out;
}

} // namespace

StartTls parseStartTls(std::string_view text) {
    static const std::pair<std::string_view, StartTls> names[] = {
        {"none", StartTls::None}, {"smtp", StartTls::Smtp}, {"submission", StartTls::Submission},
        {"lmtp", StartTls::Lmtp}, {"imap", StartTls::Imap}, {"pop3", StartTls::Pop3},
        {"xmpp", StartTls::Xmpp}};
    for (const auto& [name, value] : names) {
        if (name == text) {
            return value;
        }
    }
    throw Error(Exit::Usage, "--starttls " + quoted(text) +
                                 " is not one of smtp, submission, lmtp, imap, pop3, xmpp");
}

std::string_view toString(KeyFamily family) {
    switch (family) {
    case KeyFamily::Any:
        return "any";
    case KeyFamily::Rsa:
        return "rsa";
    case KeyFamily::Ecdsa:
        return "ecdsa";
    }
    return "any";
}

Presented connect(const Probe& p) {
    ossl::SslCtx ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        throw Error(Exit::Software, "unable to create a TLS context");
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr); // judged afterwards, by DANE
    const char* sigalgs = nullptr;
    if (p.family == KeyFamily::Rsa) {
        sigalgs = "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:"
                  "rsa_pkcs1_sha256:rsa_pkcs1_sha384:rsa_pkcs1_sha512";
    } else if (p.family == KeyFamily::Ecdsa) {
        sigalgs = "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:ecdsa_secp521r1_sha512";
    }
    if (sigalgs != nullptr && SSL_CTX_set1_sigalgs_list(ctx.get(), sigalgs) != 1) {
        throw Error(Exit::Software, "unable to set the signature algorithms");
    }
    Socket sock(connectWithTimeout(p));
    startTls(sock.get(), p);
    ossl::Ssl ssl(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), sock.get());
    if (!p.serverName.empty()) {
        SSL_set_tlsext_host_name(ssl.get(), p.serverName.c_str());
    }
    ERR_clear_error();
    if (SSL_connect(ssl.get()) != 1) {
        unavailable(p, "TLS handshake: " + sslErrors());
    }
    Presented out;
    out.protocol = SSL_get_version(ssl.get());
    out.cipher = SSL_get_cipher_name(ssl.get());
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());
    for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
        const auto der = ossl::encode(i2d_X509, sk_X509_value(chain, i));
        const std::string_view view(reinterpret_cast<const char*>(der.data()), der.size());
        out.chain.push_back(x509::parseChain(view, p.address).front());
    }
    SSL_shutdown(ssl.get());
    if (out.chain.empty()) {
        unavailable(p, "the server presented no certificate");
    }
    return out;
}

} // namespace cdm::tlsclient
