# Writes OUTPUT (.cc) defining `std::string_view NAMESPACE::FUNCTION()` with INPUT's bytes.
file(READ "${INPUT}" content)
string(FIND "${content}" ")vcdn_embed\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter")
endif()
file(WRITE "${OUTPUT}.tmp" "// Generated from ${INPUT} by cmake/embed.cmake: do not edit.\n#include <string_view>\nnamespace ${NAMESPACE} {\nstd::string_view ${FUNCTION}() {\n    static const char kText[] = R\"vcdn_embed(${content})vcdn_embed\";\n    return {kText, sizeof kText - 1};\n}\n} // namespace ${NAMESPACE}\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
