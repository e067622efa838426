# `vcdn sim --preset small` end to end: the table, the JSON report and the HTML page.
set(dir "${WORK}/sim-small")
file(REMOVE_RECURSE "${dir}")
file(MAKE_DIRECTORY "${dir}")
execute_process(COMMAND ${VCDN} sim --preset small --quiet --report ${dir}/r.json --html ${dir}/r.html
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "placement vs ideal" OR NOT out MATCHES " all ")
  message(FATAL_ERROR "sim --preset small: rc=${rc} out=${out} err=${err}")
endif()
file(READ "${dir}/r.json" json)
string(JSON days LENGTH "${json}" days)
string(JSON embedded GET "${json}" total offload_embedded)
if(NOT days EQUAL 3 OR embedded LESS_EQUAL 0.5)
  message(FATAL_ERROR "report: ${days} days, embedded share ${embedded}")
endif()
file(READ "${dir}/r.html" html)
if(NOT html MATCHES "<script type=\"application/json\" id=\"sim-data\">{" OR html MATCHES "@SIM_DATA@"
   OR NOT html MATCHES "uPlot")
  message(FATAL_ERROR "the HTML report has no data or no chart library")
endif()
# As a person sees it: headless Chromium draws both charts and the table, with no JS error.
execute_process(COMMAND ${NODE} ${SRC}/tests/integration/control/dashboard_check.mjs
  file://${dir}/r.html --sim-days 3 RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
  TIMEOUT 90)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the HTML report in Chromium: ${out}${err}")
endif()
message(STATUS "${out}")
file(REMOVE_RECURSE "${dir}")
