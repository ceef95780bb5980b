// json_anchors.cc - the JSON anchors of bench/json_compare.sh, in C++ (benchmark only; the
// product stays C): simdjson 3 On-Demand parsing a tensor's "data" array into float32, and
// std::to_chars (shortest round trip) writing the same float32 values as a JSON array, on one
// thread, on the very bytes ctpayload --dump wrote, best of several runs.
//   json_anchors TENSOR.json TENSOR.f32
#include <simdjson.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

static double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: json_anchors TENSOR.json TENSOR.f32\n");
        return 2;
    }
    simdjson::padded_string json;
    if (simdjson::padded_string::load(argv[1]).get(json)) {
        std::fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    std::ifstream f32(argv[2], std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(f32)), std::istreambuf_iterator<char>());
    std::vector<float> want(raw.size() / 4);
    std::memcpy(want.data(), raw.data(), raw.size());

    // parse: {"shape": [...], "dtype": ..., "data": [numbers]} into float32
    simdjson::ondemand::parser parser;
    std::vector<float> got;
    got.reserve(want.size());
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        got.clear();
        double t0 = now();
        simdjson::ondemand::document doc = parser.iterate(json);
        for (double v : doc["data"].get_array())
            got.push_back(static_cast<float>(v));
        best = std::min(best, now() - t0);
    }
    if (got != want) {
        std::fprintf(stderr, "simdjson read %zu values, not the %zu written\n", got.size(), want.size());
        return 1;
    }
    std::printf("simdjson parse: %.1f MB/s of JSON (%.1f MB in %.3f s)\n", json.size() / best / 1e6, json.size() / 1e6, best);

    // encode: the same values, shortest round trip, comma-separated in brackets
    std::vector<char> out(want.size() * 24 + 16);
    best = 1e9;
    size_t len = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        char *p = out.data(), *end = out.data() + out.size();
        *p++ = '[';
        for (size_t i = 0; i < want.size(); i++) {
            if (i)
                *p++ = ',';
            p = std::to_chars(p, end, want[i]).ptr;
        }
        *p++ = ']';
        len = static_cast<size_t>(p - out.data());
        best = std::min(best, now() - t0);
    }
    std::printf("to_chars encode, 1 thread: %.1f MB/s of JSON (%.1f MB in %.3f s)\n", len / best / 1e6, len / 1e6, best);
    return 0;
}
