-- wrk script: steering requests for random files and random client addresses.
-- usage: wrk ... -s steer.lua URL -- CLIENTS_FILE FILES_FILE
-- CLIENTS_FILE: one IP address per line; FILES_FILE: one URL path per line.
local common = dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")
local reqs, n, i = {}, 0, 0

-- The requests are formatted once, here: building one per call in Lua would make wrk, which
-- shares the machine's 2 cores with the server, the bottleneck.
function init(args)
  math.randomseed(os.time() * 1000 + (tonumber(tostring({}):sub(8), 16) or 0) % 1000)
  local clients, files = {}, {}
  for line in io.lines(args[1]) do clients[#clients + 1] = line end
  for line in io.lines(args[2]) do files[#files + 1] = line end
  for k = 1, 20000 do
    local c = clients[math.random(#clients)]
    local f = files[math.random(#files)]
    reqs[k] = wrk.format("GET", "/api/v1/steer?file=" .. f .. "&client=" .. c)
  end
  n = #reqs
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return reqs[i]
end

done = common.done
