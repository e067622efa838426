#include <vcdn/io/http_client.h>

#include <curl/curl.h>
#include <fmt/format.h>

#include <mutex>

#include <vcdn/base/time.h>

namespace vcdn::io {

namespace {

std::once_flag curl_once;

struct Sink {
    std::string* body;
    size_t max;
    bool over = false;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* s = static_cast<Sink*>(user);
    const size_t len = size * n;
    if (s->body->size() + len > s->max) {
        s->over = true;
        return 0; // libcurl stops the transfer (CURLE_WRITE_ERROR)
    }
    s->body->append(data, len);
    return len;
}

} // namespace

struct HttpClient::Impl {
    HttpClientOptions opt;
    CURL* h = nullptr;
};

HttpClient::HttpClient(HttpClientOptions opt) : impl_(std::make_unique<Impl>()) {
    // Not thread-safe before libcurl 7.84's init lock: once, whoever comes first.
    std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    impl_->opt = opt;
    impl_->h = curl_easy_init();
}

HttpClient::~HttpClient() {
    if (impl_->h) curl_easy_cleanup(impl_->h);
}

Result<HttpResponse> HttpClient::request(std::string_view method, const std::string& url,
                                         const std::vector<std::string>& headers,
                                         std::string_view body) {
    CURL* h = impl_->h;
    if (!h) return Error{"libcurl: curl_easy_init failed"};
    HttpResponse resp;
    Sink sink{&resp.body, impl_->opt.max_body_bytes};
    curl_slist* list = nullptr;
    for (const std::string& line : headers)
        list = curl_slist_append(list, line.c_str());
    // No "Expect: 100-continue" round trip before a body.
    list = curl_slist_append(list, "Expect:");
    const std::string m(method);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); // control traffic never goes through a proxy
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(impl_->opt.timeout_ms));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(impl_->opt.connect_timeout_ms));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "vcdn");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!impl_->opt.ca_file.empty())
        curl_easy_setopt(h, CURLOPT_CAINFO, impl_->opt.ca_file.c_str());
    if (!impl_->opt.client_cert.empty()) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, impl_->opt.client_cert.c_str());
        curl_easy_setopt(h, CURLOPT_SSLKEY, impl_->opt.client_key.c_str());
    }
    if (m == "GET") {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, nullptr);
    } else if (m == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, nullptr);
    } else {
        curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m == "POST" ? nullptr : m.c_str());
    }
    const int64_t t0 = monotonic_us();
    const CURLcode rc = curl_easy_perform(h);
    resp.duration_us = monotonic_us() - t0;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(list);
    // The next request must not inherit this one's method.
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);
    if (sink.over)
        return Error{
            fmt::format("{} {}: the response is over {} bytes", m, url, impl_->opt.max_body_bytes)};
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
        rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_SSL_CERTPROBLEM)
        return Error{fmt::format("{} {}: the server could not be verified (TLS): {}", m, url,
                                 curl_easy_strerror(rc))};
    if (rc != CURLE_OK) return Error{fmt::format("{} {}: {}", m, url, curl_easy_strerror(rc))};
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp.status = static_cast<uint16_t>(status);
    char* ct = nullptr;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) resp.content_type = ct;
    return resp;
}

Result<HttpResponse> http_get(const std::string& url, uint32_t timeout_ms) {
    HttpClientOptions o;
    o.timeout_ms = timeout_ms;
    o.connect_timeout_ms = std::min<uint32_t>(timeout_ms, 2000);
    HttpClient c(o);
    return c.get(url);
}

} // namespace vcdn::io
