#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <boost/json.hpp>

#include "libcommon/http.hpp"

#include "cdm_version.hpp"
#include "test_util.hpp"

extern char** environ;

namespace {

using cdm::Exit;
using cdm::test::codeOf;
namespace http = cdm::http;
namespace fs = std::filesystem;

// ---------------------------------------------------------------- Retry-After

TEST(HttpRetryAfter, DeltaSecondsAreAddedToNow) {
    EXPECT_EQ(http::parseRetryAfter("120", 1000), 1120);
    EXPECT_EQ(http::parseRetryAfter(" 0 ", 1000), 1000);
}

TEST(HttpRetryAfter, HttpDateInAllThreeForms) {
    // RFC 9110 §5.6.7's example, 784111777 seconds after the epoch.
    EXPECT_EQ(http::parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", 0), 784111777);
    EXPECT_EQ(http::parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", 0), 784111777);
    EXPECT_EQ(http::parseRetryAfter("Sun Nov  6 08:49:37 1994", 0), 784111777);
    EXPECT_EQ(http::parseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    EXPECT_EQ(http::parseHttpDate("Wed, 29 Feb 2028 23:59:59 GMT"), 1835481599);
}

TEST(HttpRetryAfter, AnythingElseIsNothing) {
    for (const char* bad :
         {"", "soon", "-5", "1.5", "Sun, 06 Nov 1994 08:49:37 CET", "Sun, 06 Foo 1994 08:49:37 GMT",
          "Sun, 06 Nov 1994 25:49:37 GMT", "99999999999999"}) {
        EXPECT_FALSE(http::parseRetryAfter(bad, 1000)) << "'" << bad << "'";
    }
}

// ---------------------------------------------------------------- Link

TEST(HttpLink, SeveralHeadersAndSeveralLinksPerHeader) {
    const auto links =
        http::parseLinks({R"(<https://ca.test/cert/1/alt/1>;rel="alternate")",
                          R"(<https://ca.test/dir>; rel="index", </cert/1/alt/2>; rel=alternate)",
                          R"(<https://ca.test/issuer>;title="a;b, c";rel="up")"},
                         "https://ca.test:14000/cert/1");
    ASSERT_EQ(links.size(), 4U);
    EXPECT_EQ(http::linksWithRel(links, "alternate"),
              (std::vector<std::string>{"https://ca.test/cert/1/alt/1",
                                        "https://ca.test:14000/cert/1/alt/2"}));
    EXPECT_EQ(http::linksWithRel(links, "index"), std::vector<std::string>{"https://ca.test/dir"});
    EXPECT_EQ(http::linksWithRel(links, "up"), std::vector<std::string>{"https://ca.test/issuer"});
    EXPECT_TRUE(http::linksWithRel(links, "next").empty());
}

TEST(HttpLink, SeveralRelationTypesAndCase) {
    const auto links = http::parseLinks({R"(<x/y>; REL="Up Index")"}, "https://ca.test/a/b?q=1");
    ASSERT_EQ(links.size(), 2U);
    EXPECT_EQ(links[0].url, "https://ca.test/a/x/y");
    EXPECT_EQ(links[0].rel, "up");
    EXPECT_EQ(links[1].rel, "index");
}

TEST(HttpLink, MalformedPartsAreSkipped) {
    EXPECT_TRUE(
        http::parseLinks({"no brackets; rel=up", "<unterminated; rel=up", ""}, "https://ca.test/")
            .empty());
    EXPECT_TRUE(http::parseLinks({"<https://ca.test/x>"}, "https://ca.test/").empty()); // no rel
}

TEST(HttpUrl, Resolution) {
    EXPECT_EQ(http::resolveUrl("https://a.test:1/x/y", "https://b.test/z"), "https://b.test/z");
    EXPECT_EQ(http::resolveUrl("https://a.test:1/x/y", "//b.test/z"), "https://b.test/z");
    EXPECT_EQ(http::resolveUrl("https://a.test:1/x/y", "/z"), "https://a.test:1/z");
    EXPECT_EQ(http::resolveUrl("https://a.test:1/x/y", "z"), "https://a.test:1/x/z");
    EXPECT_EQ(http::resolveUrl("https://a.test:1", "z"), "https://a.test:1/z");
}

TEST(HttpResponse, HeadersAreCaseInsensitiveAndRepeatsKept) {
    http::Response r;
    r.headers = {{"Link", "<a>;rel=up"}, {"replay-nonce", "abc"}, {"LINK", "<b>;rel=alternate"}};
    EXPECT_EQ(r.header("Replay-Nonce"), "abc");
    EXPECT_EQ(r.header("link"), "<a>;rel=up");
    EXPECT_EQ(r.all("Link"), (std::vector<std::string>{"<a>;rel=up", "<b>;rel=alternate"}));
    EXPECT_FALSE(r.header("Location"));
}

TEST(HttpClient, UserAgentNamesTheVersion) {
    EXPECT_EQ(http::userAgent(), std::string("cdm/") + CDM_VERSION);
}

// ---------------------------------------------------------------- against real servers

std::string tempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cdm-http-test.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
        throw std::runtime_error("unable to make a temporary directory");
    }
    return tmpl;
}

// A child process started for one test and stopped (by its PID) after it.
class Child {
public:
    explicit Child(std::vector<std::string> args) {
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        const int rc = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            throw std::runtime_error("unable to start " + args[0]);
        }
    }
    ~Child() {
        kill(pid_, SIGTERM);
        int status = 0;
        waitpid(pid_, &status, 0);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

private:
    pid_t pid_ = 0;
};

// A small HTTP server in python3 on 127.0.0.1: /echo answers with what it got (method,
// headers, body) as JSON plus two Link headers; /big with 100000 bytes; /status/N with N.
const char* const serverScript = R"PY(
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, with_body):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n).decode() if n else ''
        if self.path.startswith('/status/'):
            code = int(self.path.split('/')[2]); data = b'{"type":"x"}'
            self.send_response(code); self.send_header('Retry-After', '7')
        elif self.path == '/big':
            code = 200; data = b'x' * 100000; self.send_response(200)
        else:
            data = json.dumps({'method': self.command, 'path': self.path, 'body': body,
                               'agent': self.headers.get('User-Agent'),
                               'type': self.headers.get('Content-Type')}).encode()
            self.send_response(200)
            self.send_header('Link', '<https://ca.test/a>;rel="alternate"')
            self.send_header('link', '</b>;rel="up"')
            self.send_header('Replay-Nonce', 'nonce-1')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if with_body: self.wfile.write(data)
    def do_GET(self): self.answer(True)
    def do_POST(self): self.answer(True)
    def do_PUT(self): self.answer(True)
    def do_HEAD(self): self.answer(False)
s = http.server.HTTPServer(('127.0.0.1', 0), H)
open(sys.argv[1] + '.tmp', 'w').write(str(s.server_address[1]))
import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])
s.serve_forever()
)PY";

int waitForPortFile(const std::string& file) {
    for (int i = 0; i < 200 && !fs::exists(file); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    std::ifstream in(file);
    int port = 0;
    in >> port;
    if (port == 0) {
        throw std::runtime_error("the server did not start");
    }
    return port;
}

class LocalHttp : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = tempDir();
        server_ = std::make_unique<Child>(
            std::vector<std::string>{"python3", "-c", serverScript, dir_ + "/port"});
        base_ = "http://127.0.0.1:" + std::to_string(waitForPortFile(dir_ + "/port"));
    }
    void TearDown() override {
        server_.reset();
        fs::remove_all(dir_);
    }
    std::string dir_;
    std::unique_ptr<Child> server_;
    std::string base_;
};

TEST_F(LocalHttp, GetPostHeadAndHeaders) {
    http::Client client;
    auto r = client.request("GET", base_ + "/echo");
    EXPECT_EQ(r.status, 200);
    auto o = boost::json::parse(r.body).as_object();
    EXPECT_EQ(o.at("method"), "GET");
    EXPECT_EQ(o.at("agent").as_string(), http::userAgent());
    EXPECT_EQ(r.all("link").size(), 2U);
    EXPECT_EQ(r.header("replay-nonce"), "nonce-1");
    EXPECT_EQ(http::linksWithRel(http::parseLinks(r.all("Link"), base_ + "/echo"), "up"),
              std::vector<std::string>{base_ + "/b"});

    r = client.request("POST", base_ + "/echo", {"Content-Type: application/jose+json"},
                       std::string("{\"a\":1}"));
    o = boost::json::parse(r.body).as_object();
    EXPECT_EQ(o.at("method"), "POST");
    EXPECT_EQ(o.at("body"), "{\"a\":1}");
    EXPECT_EQ(o.at("type"), "application/jose+json");

    r = client.request("HEAD", base_ + "/echo");
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(r.header("Replay-Nonce"), "nonce-1");

    r = client.request("PUT", base_ + "/echo", {}, std::string("x"));
    EXPECT_EQ(boost::json::parse(r.body).as_object().at("method"), "PUT");
    EXPECT_EQ(client.requests(), 4U);
}

TEST_F(LocalHttp, ErrorStatusesAreAnswersNotExceptions) {
    http::Client client;
    const auto r = client.request("GET", base_ + "/status/503");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.header("Retry-After"), "7");
    EXPECT_EQ(r.body, "{\"type\":\"x\"}");
}

TEST_F(LocalHttp, AnswerOverTheCapIsRefused) {
    http::Options o;
    o.maxResponseBytes = 1000;
    http::Client client(o);
    std::string message;
    EXPECT_EQ(codeOf([&] { client.request("GET", base_ + "/big"); }, &message), Exit::Unavailable);
    EXPECT_NE(message.find(base_ + "/big"), std::string::npos) << message;
    EXPECT_NE(message.find("larger than 1000 bytes"), std::string::npos) << message;
    // Under the cap it arrives whole.
    http::Client roomy;
    EXPECT_EQ(roomy.request("GET", base_ + "/big").body.size(), 100000U);
}

int freePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

TEST(HttpClientErrors, ConnectionRefusedNamesTheUrl) {
    http::Client client;
    const std::string url = "http://127.0.0.1:" + std::to_string(freePort()) + "/dir";
    std::string message;
    EXPECT_EQ(codeOf([&] { client.request("GET", url); }, &message), Exit::Unavailable);
    EXPECT_NE(message.find("'" + url + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("onnect"), std::string::npos) << message; // curl's reason
}

TEST(HttpClientErrors, OtherSchemesAndMissingBundle) {
    http::Client client;
    EXPECT_EQ(codeOf([&] { client.request("GET", "file:///etc/passwd"); }), Exit::Usage);
    EXPECT_EQ(codeOf([&] { client.request("GET", "ftp://127.0.0.1/"); }), Exit::Usage);
    http::Options o;
    o.caBundle = "/nonexistent/ca.pem";
    EXPECT_EQ(codeOf([&] { http::Client c(o); }), Exit::NoInput);
}

// HTTPS against openssl s_server: verification is on, with the system store or a bundle.
class LocalHttps : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = tempDir();
        const std::string cmd =
            "cd '" + dir_ +
            "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-keyout ca.key -out ca.pem -days 2 -subj '/CN=cdm http test CA' >/dev/null 2>&1 && "
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out "
            "leaf.csr "
            "-subj /CN=localhost >/dev/null 2>&1 && "
            "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > "
            "leaf.ext && "
            "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
            "-extfile leaf.ext "
            "-out leaf.pem >/dev/null 2>&1 && "
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
            "other.key -out other.pem "
            "-days 2 -subj '/CN=another CA' >/dev/null 2>&1";
        ASSERT_EQ(std::system(cmd.c_str()), 0);
        port_ = freePort();
        server_ = std::make_unique<Child>(std::vector<std::string>{
            "openssl", "s_server", "-www", "-quiet", "-accept",
            "127.0.0.1:" + std::to_string(port_), "-cert", dir_ + "/leaf.pem", "-key",
            dir_ + "/leaf.key", "-naccept", "100"});
        url_ = "https://127.0.0.1:" + std::to_string(port_) + "/";
        // Ready when it accepts a connection.
        for (int i = 0; i < 200; ++i) {
            const int fd = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons(static_cast<std::uint16_t>(port_));
            const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
            close(fd);
            if (up) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
    }
    void TearDown() override {
        server_.reset();
        fs::remove_all(dir_);
    }
    std::string dir_;
    int port_ = 0;
    std::unique_ptr<Child> server_;
    std::string url_;
};

TEST_F(LocalHttps, VerifiedWithTheBundle) {
    http::Options o;
    o.caBundle = dir_ + "/ca.pem";
    http::Client client(o);
    const auto r = client.request("GET", url_);
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("s_server"), std::string::npos);
}

TEST_F(LocalHttps, UnknownIssuerIsRefused) {
    // The system store does not know the test CA, and another bundle does not either.
    for (const std::string& bundle : {std::string(), dir_ + "/other.pem"}) {
        http::Options o;
        o.caBundle = bundle;
        http::Client client(o);
        std::string message;
        EXPECT_EQ(codeOf([&] { client.request("GET", url_); }, &message), Exit::Unavailable)
            << bundle;
        EXPECT_NE(message.find("'" + url_ + "'"), std::string::npos) << message;
        EXPECT_NE(message.find("certificate"), std::string::npos) << message;
    }
}

} // namespace
