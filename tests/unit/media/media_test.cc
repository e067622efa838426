// Packaged manifests: URIs as catalog paths, HLS and DASH parsed and re-written for steering.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include <vcdn/media/dash.h>
#include <vcdn/media/hls.h>
#include <vcdn/media/uri.h>

namespace vcdn::media {
namespace {

// What `vcdn catalog make --media` (ffmpeg's dash muxer) writes for a title, trimmed.
constexpr const char* kMaster = R"(#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="audio_2",DEFAULT=YES,URI="media_2.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=850419,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="group_A1"
media_0.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=400419,RESOLUTION=426x240,CODECS="avc1.4d4015,mp4a.40.2",AUDIO="group_A1"
media_1.m3u8
)";

constexpr const char* kMedia = "#EXTM3U\r\n#EXT-X-VERSION:6\r\n#EXT-X-TARGETDURATION:2\r\n"
                               "#EXT-X-MAP:URI=\"r0.mp4\",BYTERANGE=\"828@0\"\r\n"
                               "#EXTINF:2.0,\r\n#EXT-X-BYTERANGE:214639@828\r\nr0.mp4\r\n"
                               "#EXTINF:2.0,\r\n#EXT-X-BYTERANGE:208133@215467\r\nr0.mp4\r\n"
                               "#EXTINF:2.0,\r\nhttps://elsewhere.example/x.mp4\r\n"
                               "#EXTINF:2.0,\r\n../shared/bumper%20a+b.mp4\r\n#EXT-X-ENDLIST\r\n";

constexpr const char* kMpd = R"(<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011"
	type="static" mediaPresentationDuration="PT6.0S" minBufferTime="PT4.0S">
	<ProgramInformation>
	</ProgramInformation>
	<Period id="0" start="PT0.0S">
		<AdaptationSet id="0" contentType="video">
			<Representation id="0" mimeType="video/mp4" codecs="avc1.4d401e" bandwidth="750000">
				<BaseURL>r0.mp4</BaseURL>
				<SegmentList timescale="1000000" duration="2000000" startNumber="1">
					<Initialization range="0-827" />
					<SegmentURL mediaRange="828-215466" indexRange="828-879" />
				</SegmentList>
			</Representation>
			<Representation id="1" mimeType="video/mp4" codecs="avc1.4d4015" bandwidth="300000">
				<BaseURL>r1.mp4</BaseURL>
				<SegmentList timescale="1000000" duration="2000000" startNumber="1">
					<Initialization range="0-832" />
					<SegmentURL mediaRange="833-81155" indexRange="833-884" />
				</SegmentList>
			</Representation>
		</AdaptationSet>
		<AdaptationSet id="1" contentType="audio">
			<Representation id="2" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="96000">
				<BaseURL>r2.mp4</BaseURL>
				<SegmentList timescale="1000000" duration="2000000" startNumber="1">
					<Initialization range="0-764" />
					<SegmentURL mediaRange="765-24283" />
				</SegmentList>
			</Representation>
		</AdaptationSet>
	</Period>
</MPD>
)";

TEST(MediaUri, ResolvesManifestUrisAsCatalogPaths) {
    EXPECT_EQ(resolve_uri("/t/1/", "r0.mp4"), "/t/1/r0.mp4");
    EXPECT_EQ(resolve_uri("/t/1/", "./video/../r0.mp4?x=1#f"), "/t/1/r0.mp4");
    EXPECT_EQ(resolve_uri("/t/1/", "/t/2/a.mp4"), "/t/2/a.mp4");
    EXPECT_EQ(resolve_uri("/t/1/", "../shared/a%20b+c.mp4"), "/t/shared/a b+c.mp4"); // '+' stays
    EXPECT_EQ(resolve_uri("/t/1/", "video/"), "/t/1/video/");
    EXPECT_EQ(resolve_uri("/t/1/", "../../../x.mp4"), "");
    EXPECT_EQ(resolve_uri("/t/1/", "https://cdn.example/x.mp4"), "");
    EXPECT_EQ(resolve_uri("/t/1/", "//cdn.example/x.mp4"), "");
    EXPECT_EQ(resolve_uri("/t/1/", "data:text/plain,x"), "");
    EXPECT_EQ(resolve_uri("/t/1/", "seg-$Number$.m4s"), "");
    EXPECT_EQ(resolve_uri("/t/1/", "{$name}.m4s"), "");
    EXPECT_EQ(resolve_uri("/t/1/", "bad%zz.mp4"), "");
    EXPECT_EQ(resolve_uri("/t/1/", "ctl%0a.mp4"), "");
    EXPECT_EQ(resolve_uri("/t/1/", "  "), "");
    EXPECT_EQ(resolve_uri("/t/1/", std::string(5000, 'a')), "");
}

TEST(MediaUri, EncodesEveryPathSoItSurvivesUrlsPlaylistsAndXml) {
    EXPECT_EQ(encode_path("/t/1/r0.mp4"), "/t/1/r0.mp4");
    EXPECT_EQ(encode_path("/t/a b\"<&%'.mp4"), "/t/a%20b%22%3C%26%25%27.mp4");
    EXPECT_EQ(resolve_uri("/", encode_path("/t/a b\"<&%'+.mp4")), "/t/a b\"<&%'+.mp4");
    EXPECT_EQ(dir_of("/t/1/x.mpd"), "/t/1/");
    EXPECT_EQ(dir_of("x"), "");
}

TEST(Hls, AttributeListsAndMediaPlaylists) {
    std::vector<HlsAttr> a;
    ASSERT_TRUE(parse_hls_attrs(R"(BANDWIDTH=1,CODECS="a,b",URI="x.m3u8")", &a));
    ASSERT_EQ(a.size(), 3u);
    EXPECT_EQ(a[1].name, "CODECS");
    EXPECT_EQ(a[1].value, "\"a,b\"");
    EXPECT_EQ(hls_attr(R"(BANDWIDTH=1,CODECS="a,b",URI="x.m3u8")", "URI"), "x.m3u8");
    EXPECT_EQ(hls_attr("BANDWIDTH=1", "URI"), "");
    EXPECT_FALSE(parse_hls_attrs(R"(URI="open)", &a));
    EXPECT_FALSE(parse_hls_attrs("=1", &a));
    EXPECT_FALSE(parse_hls_attrs(R"(A="x"junk)", &a));
    std::string many;
    for (int i = 0; i < 100; ++i)
        many += (i ? ",A" : "A") + std::to_string(i) + "=1";
    EXPECT_FALSE(parse_hls_attrs(many, &a)); // more than kMaxHlsAttrs

    EXPECT_TRUE(hls_is_multivariant(kMaster));
    EXPECT_FALSE(hls_is_multivariant(kMedia));
    EXPECT_EQ(hls_media_files("/t/1/", kMedia),
              (std::vector<std::string>{"/t/1/r0.mp4", "/t/shared/bumper a+b.mp4"}));
}

TEST(Hls, MultivariantPlaylistParses) {
    auto m = parse_hls_master(kMaster, "/t/1/master.m3u8");
    ASSERT_TRUE(m) << m.error().message;
    ASSERT_EQ(m->variants.size(), 2u);
    EXPECT_EQ(m->variants[0].uri, "/t/1/media_0.m3u8");
    EXPECT_EQ(m->variants[0].bandwidth, 850419u);
    ASSERT_EQ(m->variants[0].groups.size(), 1u);
    EXPECT_EQ(m->variants[0].groups[0].first, "AUDIO");
    EXPECT_EQ(m->variants[0].groups[0].second, "group_A1");
    EXPECT_EQ(m->variants[0].attrs.find("AUDIO"), std::string::npos);
    ASSERT_EQ(m->renditions.size(), 1u);
    EXPECT_EQ(m->renditions[0].uri, "/t/1/media_2.m3u8");
    EXPECT_EQ(m->renditions[0].group_id, "group_A1");
    EXPECT_EQ(m->header, std::vector<std::string>{"#EXT-X-VERSION:7"});
}

TEST(Hls, WhatCannotBeSteeredIsRefusedWithAReason) {
    auto why = [](const std::string& text) {
        auto m = parse_hls_master(text, "/t/1/master.m3u8");
        return m ? std::string("ok") : m.error().message;
    };
    EXPECT_NE(why("#EXT-X-VERSION:7\n").find("#EXTM3U"), std::string::npos);
    EXPECT_NE(why("").find("empty"), std::string::npos);
    EXPECT_NE(why("#EXTM3U\n#EXTINF:2,\nseg.ts\n").find("without EXT-X-STREAM-INF"),
              std::string::npos);
    EXPECT_NE(why("#EXTM3U\n").find("no variant"), std::string::npos);
    EXPECT_NE(why("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttps://x.example/a.m3u8\n")
                  .find("not a file of the catalog"),
              std::string::npos);
    EXPECT_NE(
        why("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,PATHWAY-ID=\"a\"\na.m3u8\n").find("Pathways"),
        std::string::npos);
    EXPECT_NE(why("#EXTM3U\n#EXT-X-CONTENT-STEERING:SERVER-URI=\"s\"\n").find("Content Steering"),
              std::string::npos);
    EXPECT_NE(why("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"nope\"\na.m3u8\n")
                  .find("no EXT-X-MEDIA defines"),
              std::string::npos);
    EXPECT_NE(why("#EXTM3U\n#EXT-X-STREAM-INF:CODECS=\"x\"\na.m3u8\n").find("BANDWIDTH"),
              std::string::npos);
    EXPECT_NE(why("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n").find("without its URI"),
              std::string::npos);
    EXPECT_NE(why("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\na\n")
                  .find("without its URI"),
              std::string::npos);
    EXPECT_EQ(why("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n# a comment\na.m3u8\n"), "ok");
}

TEST(Hls, SteeredPlaylistHasAPathwayPerEdgeWithItsOwnGroups) {
    auto m = parse_hls_master(kMaster, "/t/1/master.m3u8");
    ASSERT_TRUE(m);
    const std::string out = render_hls_master(
        *m, {"a1", "origin"}, "https://steer.example/api/v1/play/1/steering?kind=hls",
        [](size_t p, const std::string& path) {
            return std::string(p == 0 ? "http://a1.example/vt=tok" : "http://origin.example") +
                   path;
        });
    EXPECT_EQ(out.rfind("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-CONTENT-STEERING:SERVER-URI=\"https://"
                        "steer.example/api/v1/play/1/steering?kind=hls\",PATHWAY-ID=\"a1\"\n",
                        0),
              0u)
        << out;
    EXPECT_NE(out.find("#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"audio_2\",DEFAULT=YES,GROUP-ID=\"group_A1-"
                       "a1\",STABLE-RENDITION-ID=\"r0\",URI=\"http://a1.example/vt=tok/t/1/"
                       "media_2.m3u8\"\n"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("#EXT-X-STREAM-INF:BANDWIDTH=400419,RESOLUTION=426x240,CODECS=\"avc1."
                       "4d4015,mp4a.40.2\",AUDIO=\"group_A1-origin\",PATHWAY-ID=\"origin\","
                       "STABLE-VARIANT-ID=\"v1\"\nhttp://origin.example/t/1/media_1.m3u8\n"),
              std::string::npos)
        << out;
    // Every variant once per Pathway, and the result parses as a playlist with Pathways.
    size_t variants = 0;
    for (size_t at = out.find("#EXT-X-STREAM-INF:"); at != std::string::npos;
         at = out.find("#EXT-X-STREAM-INF:", at + 1))
        ++variants;
    EXPECT_EQ(variants, 4u);
    EXPECT_TRUE(hls_is_multivariant(out));
}

TEST(Dash, TemplateKnowsEachRepresentationsFiles) {
    auto t = parse_dash_template(kMpd, "/t/1/manifest.mpd");
    ASSERT_TRUE(t) << t.error().message;
    ASSERT_EQ(t->slots.size(), 3u);
    EXPECT_EQ(t->slots[0].base, "/t/1/r0.mp4");
    EXPECT_EQ(t->slots[0].files, std::vector<std::string>{"/t/1/r0.mp4"});
    EXPECT_EQ(t->slots[2].bandwidth, 96000u);
    EXPECT_EQ(t->text.size(), 5u);
    for (const std::string& piece : t->text)
        EXPECT_EQ(piece.find("BaseURL"), std::string::npos) << piece;
}

TEST(Dash, SteeredMpdHasAServiceLocationPerEdgeAndAContentSteeringServer) {
    auto t = parse_dash_template(kMpd, "/t/1/manifest.mpd");
    ASSERT_TRUE(t);
    const std::string out = render_dash(
        *t, {"a1", "x1"}, "https://steer.example/s?kind=dash&key=/t/1/r0.mp4",
        [&](size_t k, size_t slot) {
            return std::string(k ? "http://x1.example" : "http://a1.example") + t->slots[slot].base;
        });
    pugi::xml_document doc;
    ASSERT_TRUE(doc.load_string(out.c_str())) << out;
    pugi::xml_node mpd = doc.child("MPD");
    pugi::xml_node cs = mpd.child("ContentSteering");
    EXPECT_STREQ(cs.attribute("defaultServiceLocation").value(), "a1");
    EXPECT_STREQ(cs.attribute("queryBeforeStart").value(), "true");
    EXPECT_STREQ(cs.text().get(), "https://steer.example/s?kind=dash&key=/t/1/r0.mp4");
    EXPECT_EQ(std::string(mpd.first_element_by_path("Period").previous_sibling().name()),
              "ContentSteering");
    size_t reps = 0;
    for (pugi::xml_node set : mpd.child("Period").children("AdaptationSet"))
        for (pugi::xml_node rep : set.children("Representation")) {
            std::vector<std::pair<std::string, std::string>> bases;
            for (pugi::xml_node b : rep.children("BaseURL"))
                bases.emplace_back(b.attribute("serviceLocation").value(), b.text().get());
            ASSERT_EQ(bases.size(), 2u);
            EXPECT_EQ(bases[0].first, "a1");
            EXPECT_EQ(bases[1].first, "x1");
            EXPECT_EQ(bases[0].second, "http://a1.example/t/1/r" + std::to_string(reps) + ".mp4");
            EXPECT_TRUE(rep.child("SegmentList")) << "the rest of the Representation is kept";
            ++reps;
        }
    EXPECT_EQ(reps, 3u);
    EXPECT_EQ(out.find("vcdnSlot"), std::string::npos);
    // Without a steering server there is no ContentSteering element.
    const std::string plain = render_dash(*t, {"a1"}, "", [](size_t, size_t) { return "u"; });
    EXPECT_EQ(plain.find("ContentSteering"), std::string::npos);
}

TEST(Dash, BaseUrlsAtEveryLevelAndTemplatesResolve) {
    const char* mpd = R"(<MPD type="static"><BaseURL>content/</BaseURL>
<BaseURL>https://other.example/content/</BaseURL>
<Location>https://origin.example/manifest.mpd</Location>
<Period><BaseURL>p1/</BaseURL>
<AdaptationSet><SegmentTemplate initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number%05d$.m4s"/>
<Representation id="v1" bandwidth="1000"/>
<Representation id="v2" bandwidth="2000"><BaseURL>alt/</BaseURL></Representation>
</AdaptationSet></Period></MPD>)";
    auto t = parse_dash_template(mpd, "/t/9/x.mpd");
    ASSERT_TRUE(t) << t.error().message;
    ASSERT_EQ(t->slots.size(), 2u);
    EXPECT_EQ(t->slots[0].base, "/t/9/content/p1/");
    EXPECT_EQ(t->slots[0].files, std::vector<std::string>{"/t/9/content/p1/v1/init.mp4"});
    ASSERT_EQ(t->slots[0].templates.size(), 1u);
    EXPECT_EQ(t->slots[0].templates[0].first, "/t/9/content/p1/v1/seg-");
    EXPECT_EQ(t->slots[0].templates[0].second, ".m4s");
    EXPECT_EQ(t->slots[1].base, "/t/9/content/p1/alt/");
    const std::string out = render_dash(*t, {"e"}, "", [](size_t, size_t) { return "u"; });
    EXPECT_EQ(out.find("other.example"), std::string::npos) << "the packager's alternatives go";
    EXPECT_EQ(out.find("<Location"), std::string::npos);
}

TEST(Dash, WhatCannotBeSteeredIsRefusedWithAReason) {
    auto why = [](const std::string& text) {
        auto t = parse_dash_template(text, "/t/1/m.mpd");
        return t ? std::string("ok") : t.error().message;
    };
    EXPECT_NE(why("not xml <").find("not XML"), std::string::npos);
    EXPECT_NE(why("<Foo/>").find("no MPD root"), std::string::npos);
    EXPECT_NE(why("<MPD type=\"dynamic\"><Period/></MPD>").find("live"), std::string::npos);
    EXPECT_NE(why("<MPD><Period><AdaptationSet/></Period></MPD>").find("no Representation"),
              std::string::npos);
    EXPECT_NE(why("<MPD><BaseURL>https://elsewhere.example/</BaseURL><Period><AdaptationSet>"
                  "<Representation id=\"1\"><BaseURL>a.mp4</BaseURL></Representation>"
                  "</AdaptationSet></Period></MPD>")
                  .find("not in the catalog"),
              std::string::npos);
    EXPECT_NE(why("<MPD><ContentSteering>x</ContentSteering></MPD>").find("Content Steering"),
              std::string::npos);
    // Prefixed as a player that takes the name after the last colon reads it (found looking
    // for what the fuzzer hit in CI: it was steered, and such a player saw two of them).
    EXPECT_NE(why("<MPD><a:b:ContentSteering/><Period><AdaptationSet><Representation id=\"1\">"
                  "<BaseURL>a.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>")
                  .find("Content Steering"),
              std::string::npos);
    EXPECT_NE(why(std::string(kMaxDashBytes + 1, ' ')).find("larger than"), std::string::npos);
    // Bytes that are not UTF-8 would come out as XML a player cannot parse (found by fuzzing).
    EXPECT_EQ(why("<MPD><Period><AdaptationSet><Representation id=\"\xc6\t\">"
                  "<BaseURL>a.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>"),
              "not UTF-8 XML text (an invalid byte or a control)");
    EXPECT_EQ(why("<MPD t=\"\xed\xa0\x80\"/>"),
              "not UTF-8 XML text (an invalid byte or a control)"); // a surrogate
    EXPECT_EQ(why("<MPD t=\"\xe0\x80\x80\"/>"),
              "not UTF-8 XML text (an invalid byte or a control)"); // overlong
    EXPECT_EQ(why("<MPD t=\"\xf4\x90\x80\x80\"/>"),
              "not UTF-8 XML text (an invalid byte or a control)"); // past U+10FFFF
    EXPECT_EQ(why("<MPD t=\"\x07\"/>"), "not UTF-8 XML text (an invalid byte or a control)");
    EXPECT_NE(why("<MPD t=\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xac\"/>"),
              "not UTF-8 XML text (an invalid byte or a control)");
    // An entity or DOCTYPE expands nothing.
    EXPECT_EQ(why("<!DOCTYPE MPD [<!ENTITY x \"yyyy\">]><MPD><Period><AdaptationSet>"
                  "<Representation id=\"&x;\"><BaseURL>a.mp4</BaseURL></Representation>"
                  "</AdaptationSet></Period></MPD>"),
              "ok");
}

TEST(Dash, APackagersCdataCannotForgeAPlaceholder) {
    // Text that looks like our placeholder stays text: the key comes from the input itself.
    const std::string mpd = "<MPD><ProgramInformation><Title><![CDATA[<vcdnSlot n=\"1\" k=\"0\" "
                            "/>]]></Title></ProgramInformation><Period><AdaptationSet>"
                            "<Representation id=\"1\"><BaseURL>a.mp4</BaseURL></Representation>"
                            "</AdaptationSet></Period></MPD>";
    auto t = parse_dash_template(mpd, "/t/1/m.mpd");
    ASSERT_TRUE(t) << t.error().message;
    const std::string out = render_dash(*t, {"e"}, "", [](size_t, size_t) { return "U"; });
    EXPECT_NE(out.find("<BaseURL serviceLocation=\"e\">U</BaseURL>"), std::string::npos) << out;
    EXPECT_NE(out.find("<![CDATA[<vcdnSlot"), std::string::npos) << out;
}

TEST(Dash, TextBesideABaseUrlStaysOutOfTheNextOne) {
    // Mixed content (text on the Representation's line) must not be copied as "indentation"
    // before the second BaseURL (found by fuzzing: it duplicated the start tag).
    const std::string mpd = "<MPD><Period><AdaptationSet>\n<Representation id=\"1\">x\t"
                            "<BaseURL>a.mp4</BaseURL></Representation></AdaptationSet></Period>"
                            "</MPD>";
    auto t = parse_dash_template(mpd, "/t/1/m.mpd");
    ASSERT_TRUE(t) << t.error().message;
    const std::string out = render_dash(*t, {"e1", "e2"}, "", [](size_t k, size_t) {
        return k ? std::string("B") : std::string("A");
    });
    pugi::xml_document doc;
    ASSERT_TRUE(doc.load_string(out.c_str())) << out;
    EXPECT_EQ(std::distance(doc.first_element_by_path("MPD/Period/AdaptationSet/Representation")
                                .children("BaseURL")
                                .begin(),
                            doc.first_element_by_path("MPD/Period/AdaptationSet/Representation")
                                .children("BaseURL")
                                .end()),
              2)
        << out;
    EXPECT_EQ(out.find("<Representation", out.find("<Representation") + 1), std::string::npos)
        << out;
}

TEST(Dash, BitratesComeFromRepresentations) {
    std::map<std::string, uint32_t> kbps;
    dash_bitrates("/t/1/", kMpd, &kbps);
    EXPECT_EQ(kbps.at("/t/1/r0.mp4"), 750u);
    EXPECT_EQ(kbps.at("/t/1/r2.mp4"), 96u);
}

TEST(Steering, ResponseIsTheSpecsJson) {
    auto j = nlohmann::json::parse(
        steering_response(30, "https://s.example/x?a=\"b\"", {"a1", "origin"}, true));
    EXPECT_EQ(j["VERSION"], 1);
    EXPECT_EQ(j["TTL"], 30);
    EXPECT_EQ(j["RELOAD-URI"], "https://s.example/x?a=\"b\"");
    EXPECT_EQ(j["PATHWAY-PRIORITY"], nlohmann::json({"a1", "origin"}));
    EXPECT_EQ(j["SERVICE-LOCATION-PRIORITY"], j["PATHWAY-PRIORITY"]);
    auto h = nlohmann::json::parse(steering_response(5, "", {}, false));
    EXPECT_FALSE(h.contains("SERVICE-LOCATION-PRIORITY"));
    EXPECT_FALSE(h.contains("RELOAD-URI"));
    EXPECT_TRUE(h["PATHWAY-PRIORITY"].empty());
    EXPECT_TRUE(valid_location_id("edge-a1.x_2"));
    EXPECT_FALSE(valid_location_id("a\"b"));
    EXPECT_FALSE(valid_location_id(""));
    EXPECT_FALSE(valid_location_id(std::string(65, 'a')));
}

} // namespace
} // namespace vcdn::media
