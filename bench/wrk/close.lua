-- wrk script: random 100 KiB ranges, one request per connection ("Connection: close"), so
-- that every request pays a new TCP and TLS handshake. For handshake-rate runs.
-- usage: wrk ... -s close.lua URL -- FILES_LIST
local common = dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")
local files, sizes

function init(args)
  files, sizes = common.load_files(args[1])
end

function request()
  local i = math.random(#files)
  return wrk.format("GET", files[i], {["Range"] = "bytes=0-1023", ["Connection"] = "close"})
end

done = common.done
