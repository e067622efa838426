-- wrk script: player-like sequential walks. Each wrk thread keeps one stream per connection
-- (wrk has no per-connection hook, so streams are served round-robin, which is what a thread
-- with one request in flight per connection does anyway): a stream walks a file in 100 KiB
-- ranges, then picks another file.
-- usage: wrk ... -s walk.lua URL -- FILES_LIST STREAMS_PER_THREAD
local common = dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")
local files, sizes
local chunk = common.chunk
local streams = {}
local next_stream = 1

function init(args)
  files, sizes = common.load_files(args[1])
  for k = 1, (tonumber(args[2]) or 50) do
    local i = math.random(#files)
    -- start somewhere in the file so that streams are not in lockstep
    streams[k] = {file = i, off = (math.random(math.floor(sizes[i] / chunk)) - 1) * chunk}
  end
end

function request()
  local s = streams[next_stream]
  next_stream = next_stream % #streams + 1
  if s.off >= sizes[s.file] then
    s.file = math.random(#files)
    s.off = 0
  end
  local last = math.min(s.off + chunk, sizes[s.file]) - 1
  local req = wrk.format("GET", files[s.file], {["Range"] = "bytes=" .. s.off .. "-" .. last})
  s.off = last + 1
  return req
end

done = common.done
