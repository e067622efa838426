-- wrk script: random 100 KiB ranges of random files.
-- usage: wrk ... -s ranges.lua URL -- FILES_LIST
local common = dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")
local files, sizes
local chunk = common.chunk

function init(args)
  files, sizes = common.load_files(args[1])
end

function request()
  local i = math.random(#files)
  local first = (math.random(math.floor(sizes[i] / chunk)) - 1) * chunk
  return wrk.format("GET", files[i], {["Range"] = "bytes=" .. first .. "-" .. (first + chunk - 1)})
end

done = common.done
