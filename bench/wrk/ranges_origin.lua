-- wrk script: random 100 KiB ranges of random files, each request from a web page on another
-- origin (an Origin header, as a browser's fetch sends it).
-- usage: wrk ... -s ranges_origin.lua URL -- FILES_LIST
local common = dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")
local files, sizes

function init(args)
  files, sizes = common.load_files(args[1])
end

function request()
  local i = math.random(#files)
  local first = (math.random(math.floor(sizes[i] / common.chunk)) - 1) * common.chunk
  return wrk.format("GET", files[i], {["Range"] = "bytes=" .. first .. "-" .. (first + common.chunk - 1),
                                      ["Origin"] = "https://player.example"})
end

done = common.done
