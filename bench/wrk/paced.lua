-- wrk script: random 100 KiB ranges like ranges.lua, but each connection waits PACE_MS after
-- every response before its next request, so the load stays below what the machine can do
-- and latency measures service time and stalls rather than queueing.
-- usage: wrk ... -s paced.lua URL -- FILES_LIST STREAMS_PER_THREAD PACE_MS
local common = dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")
local files, sizes
local pace = 10

function init(args)
  files, sizes = common.load_files(args[1])
  pace = tonumber(args[3]) or 10
end

function delay()
  return pace
end

function request()
  return common.random_range(files, sizes)
end

done = common.done
