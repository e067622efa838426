-- wrk script: random 100 KiB ranges of random files.
-- usage: wrk ... -s ranges.lua URL -- FILES_LIST
local common = dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "common.lua")
local files, sizes

function init(args)
  files, sizes = common.load_files(args[1])
end

function request()
  return common.random_range(files, sizes)
end

done = common.done
