#include <vcdn/control/config.h>

#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <vcdn/base/log.h>
#include <vcdn/base/toml_util.h>
#include <vcdn/io/address.h>

namespace vcdn::control {

Status parse_control_toml(std::string_view text, std::string_view source, ControlConfig* cfg) {
    try {
        toml::table doc = toml::parse(text, source);
        const toml::node* n = doc.get("control");
        if (!n) return {}; // other sections belong to other subcommands sharing the file
        const toml::table* t = n->as_table();
        if (!t) throw std::runtime_error("control: expected a table");
        toml_util::TableReader r(*t, "control");
        r.get("listen", &cfg->listen);
        r.get("db", &cfg->db);
        r.get("fleet", &cfg->fleet);
        r.get("admin_token", &cfg->admin_token);
        r.get("threads", &cfg->threads, 0, 64);
        r.get("sync_interval_ms", &cfg->sync_interval_ms, 10, 60000);
        r.get("url_ttl_s", &cfg->url_ttl_s, 1, 30u * 86400);
        r.get("bind_client_prefix", &cfg->bind_client_prefix);
        r.get("max_urls", &cfg->max_urls, 1, 64);
        r.get("https_urls", &cfg->https_urls);
        r.get("steering_log", &cfg->steering_log);
        r.get("log_level", &cfg->log_level);
        r.get("popularity_period_s", &cfg->popularity_period_s, 1, 365u * 86400);
        r.get("popularity_alpha", &cfg->popularity_alpha);
        r.get("fill_delete_delay_ms", &cfg->fill_delete_delay_ms, 0, 86400000);
        if (const toml::table* h = r.subtable("health")) {
            toml_util::TableReader hr(*h, "control.health");
            hr.get("heartbeat_interval_ms", &cfg->health.heartbeat_interval_ms, 100, 600000);
            hr.get("missed_heartbeats", &cfg->health.missed_heartbeats, 1, 1000);
            hr.get("load_high", &cfg->health.load_high);
            hr.get("load_low", &cfg->health.load_low);
            hr.get("hold_down_ms", &cfg->health.hold_down_ms, 0, 3600000);
            hr.finish();
        }
        r.finish();
    } catch (const toml::parse_error& e) {
        return toml_util::parse_error(source, e);
    } catch (const std::exception& e) {
        return Error{fmt::format("{}: {}", source, e.what())};
    }
    return {};
}

Status load_control_config_file(const std::string& path, ControlConfig* cfg) {
    auto text = toml_util::read_text_file(path, "config file");
    if (!text) return text.error();
    return parse_control_toml(*text, path, cfg);
}

Status validate(const ControlConfig& cfg) {
    if (auto a = io::parse_socket_address(cfg.listen); !a)
        return Error{fmt::format("listen: {}", a.error().message)};
    if (cfg.admin_token.size() < 8)
        return Error{"admin token: give --admin-token (or control.admin_token) of at least 8 "
                     "characters"};
    if (cfg.db.rfind("sqlite:", 0) != 0 && cfg.db.rfind("postgres://", 0) != 0 &&
        cfg.db.rfind("postgresql://", 0) != 0)
        return Error{fmt::format("db '{}': use sqlite:PATH or postgres://...", cfg.db)};
    if (!(cfg.health.load_low > 0 && cfg.health.load_low <= cfg.health.load_high &&
          cfg.health.load_high <= 10))
        return Error{"health: need 0 < load_low <= load_high"};
    if (!(cfg.popularity_alpha > 0 && cfg.popularity_alpha <= 1))
        return Error{"popularity_alpha: must be in (0, 1]"};
    log::Level lvl;
    if (!log::parse_level(cfg.log_level, &lvl))
        return Error{fmt::format("log_level '{}': use debug, info, warn or error", cfg.log_level)};
    return {};
}

} // namespace vcdn::control
