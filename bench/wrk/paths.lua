-- wrk script: GET requests for random paths from a list (one path per line).
-- usage: wrk ... -s paths.lua URL -- PATHS_FILE
local common = dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")
local reqs, n, i = {}, 0, 0

-- Formatted once: building a request per call in Lua would make wrk, which shares the 2 cores
-- with the server, the bottleneck.
function init(args)
  math.randomseed(os.time() * 1000 + (tonumber(tostring({}):sub(8), 16) or 0) % 1000)
  for line in io.lines(args[1]) do
    reqs[#reqs + 1] = wrk.format("GET", line)
  end
  n = #reqs
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return reqs[i]
end

done = common.done
