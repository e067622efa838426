# Every subcommand answers --help with exit 0, and bad invocations fail with a short message.
foreach(cmd "" "edge" "catalog" "catalog make" "catalog verify" "catalog import" "demo" "sign" "control" "origin" "play" "bgp-config" "sim" "cert" "cert ca" "cert issue")
  separate_arguments(args UNIX_COMMAND "${cmd} --help")
  execute_process(COMMAND ${VCDN} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "vcdn ${cmd} --help exited ${rc}: ${err}")
  endif()
  if(NOT out MATCHES "Usage:")
    message(FATAL_ERROR "vcdn ${cmd} --help printed no usage: ${out}")
  endif()
endforeach()
execute_process(COMMAND ${VCDN} no-such-command RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "^vcdn: ")
  message(FATAL_ERROR "unknown subcommand: rc=${rc} err=${err}")
endif()
execute_process(COMMAND ${VCDN} catalog make --out /tmp/x --titles zero RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "titles")
  message(FATAL_ERROR "bad --titles: rc=${rc} err=${err}")
endif()
execute_process(COMMAND ${VCDN} catalog import --root /nonexistent-vcdn-root RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^vcdn catalog import: /nonexistent-vcdn-root: not a directory\n$")
  message(FATAL_ERROR "catalog import of no directory: rc=${rc} err=${err}")
endif()
execute_process(COMMAND ${VCDN} catalog make --out /tmp/x --titles 0 RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "titles must be at least 1")
  message(FATAL_ERROR "--titles 0: rc=${rc} err=${err}")
endif()
# Bad fill settings and an origin without a root: one line, exit 2.
execute_process(COMMAND ${VCDN} origin --listen 127.0.0.1:0 RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^vcdn origin: give --root")
  message(FATAL_ERROR "origin without --root: rc=${rc} err=${err}")
endif()
execute_process(COMMAND ${VCDN} edge --root /tmp --listen 127.0.0.1:0 --fill-window always
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "fill window needs the control plane")
  message(FATAL_ERROR "fill without control: rc=${rc} err=${err}")
endif()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/help-edge.token "edge-token-0123456789\n")
execute_process(COMMAND ${VCDN} edge --root /tmp --listen 127.0.0.1:0 --control http://127.0.0.1:1
  --control-insecure --id e1 --token-file ${CMAKE_CURRENT_BINARY_DIR}/help-edge.token
  --fill-window 25:00+1h RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "fill window '25:00\\+1h'")
  message(FATAL_ERROR "bad fill window: rc=${rc} err=${err}")
endif()
# BGP: an edge with --bird-socket but no control plane, and bad bgp-config input.
execute_process(COMMAND ${VCDN} edge --root /tmp --listen 127.0.0.1:0 --bird-socket /tmp/b.ctl
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^vcdn edge: bgp: --bird-socket needs the control plane")
  message(FATAL_ERROR "edge --bird-socket without --control: rc=${rc} err=${err}")
endif()
execute_process(COMMAND ${VCDN} bgp-config --router-id 10.0.0.5 --local-as 65010 --neighbor 10.0.0.1
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^vcdn bgp-config: --neighbor '10.0.0.1': expected ADDRESS:AS")
  message(FATAL_ERROR "bgp-config without an AS: rc=${rc} err=${err}")
endif()
execute_process(COMMAND ${VCDN} bgp-config --router-id nope --local-as 65010 --neighbor 10.0.0.1:65001
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^vcdn bgp-config: router id 'nope'")
  message(FATAL_ERROR "bgp-config bad router id: rc=${rc} err=${err}")
endif()
execute_process(COMMAND ${VCDN} bgp-config --router-id 10.0.0.5 --local-as 65010 --neighbor 10.0.0.1:65001
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "protocol bgp isp1")
  message(FATAL_ERROR "bgp-config: rc=${rc} out=${out} err=${err}")
endif()
# The simulator: no scenario, a missing file, a bad one.
execute_process(COMMAND ${VCDN} sim RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^vcdn sim: give --scenario FILE or --preset")
  message(FATAL_ERROR "sim without a scenario: rc=${rc} err=${err}")
endif()
execute_process(COMMAND ${VCDN} sim --scenario /nonexistent.toml RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^vcdn sim: .*nonexistent")
  message(FATAL_ERROR "sim with a missing file: rc=${rc} err=${err}")
endif()
execute_process(COMMAND ${VCDN} sim --preset huge RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "no preset 'huge'")
  message(FATAL_ERROR "sim with an unknown preset: rc=${rc} err=${err}")
endif()
# One exit-code rule and one prefix per command: 2 for a bad flag, argument, config or input
# file, with the command (and verb) first; 1 for a failure at run time.
set(TMPD ${CMAKE_CURRENT_BINARY_DIR}/exit-codes)
file(REMOVE_RECURSE ${TMPD})
file(MAKE_DIRECTORY ${TMPD})
function(expect_exit want pattern)
  execute_process(COMMAND ${VCDN} ${ARGN} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err
    TIMEOUT 60)
  string(REGEX MATCHALL "\n" lines "${err}")
  list(LENGTH lines n)
  if(NOT rc EQUAL ${want} OR NOT err MATCHES "${pattern}" OR NOT n EQUAL 1)
    message(FATAL_ERROR "vcdn ${ARGN}: want exit ${want} and one line matching '${pattern}': "
      "rc=${rc} err=${err}")
  endif()
endfunction()
expect_exit(2 "^vcdn edge: .*--workerz" edge --workerz 1)
expect_exit(2 "^vcdn catalog make: .*--titles" catalog make --titles x --out ${TMPD}/x)
expect_exit(2 "^vcdn edge: content root .* is listed twice"
  edge --root ${TMPD} --root ${TMPD} --listen 127.0.0.1:0)
expect_exit(2 "^vcdn edge: signing keys .*/none: No such file"
  edge --root ${TMPD} --listen 127.0.0.1:0 --signing-keys ${TMPD}/none)
expect_exit(2 "^vcdn origin: signing keys .*/none: No such file"
  origin --root ${TMPD} --listen 127.0.0.1:0 --signing-keys ${TMPD}/none)
expect_exit(2 "^vcdn cert issue: --ca .*/no-ca: "
  cert issue --ca ${TMPD}/no-ca --name x --dns x --out ${TMPD}/x)
expect_exit(1 "^vcdn catalog make: cannot create /proc/vcdn-no"
  catalog make --out /proc/vcdn-no/x --titles 1)
expect_exit(2 "^vcdn play: ranges mode: catalog: "
  play --mode ranges --target http://127.0.0.1:1 --catalog ${TMPD}/none)
expect_exit(2 "^vcdn play: control 'https://127.0.0.1:1': use http://IP:PORT"
  play --control https://127.0.0.1:1)
expect_exit(2 "^vcdn demo: --titles: " demo --titles 0)
expect_exit(2 "^vcdn sim: --days 60: " sim --preset small --days 60)
file(WRITE ${TMPD}/catalog.json "{\"files\":[{\"path\":\"/a.mp4\",\"size\":3,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}]}")
expect_exit(1 "^vcdn catalog verify: 1 problems in 1 files" catalog verify --root ${TMPD}
  --catalog ${TMPD}/catalog.json)
