-- wrk script: random 100 KiB ranges of random files.
-- usage: wrk ... -s ranges.lua URL -- FILES_LIST
-- FILES_LIST: one "<url-path> <size>" per line (bench/run.py writes it).
local files, sizes = {}, {}
local chunk = 102400

function init(args)
  math.randomseed(os.time() * 1000 + (tonumber(tostring({}):sub(8), 16) or 0) % 1000)
  for line in io.lines(args[1]) do
    local p, s = line:match("(%S+) (%d+)")
    if tonumber(s) >= chunk then
      files[#files + 1] = p
      sizes[#sizes + 1] = tonumber(s)
    end
  end
end

function request()
  local i = math.random(#files)
  local first = (math.random(math.floor(sizes[i] / chunk)) - 1) * chunk
  return wrk.format("GET", files[i], {["Range"] = "bytes=" .. first .. "-" .. (first + chunk - 1)})
end

done = dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "done.lua")
