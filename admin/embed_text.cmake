# cmake -DINPUT=file -DOUTPUT=file.cpp -DHEADER=dir/x.hpp -DFUNCTION=name -P embed_text.cmake
# Writes OUTPUT, a C++ source defining `std::string_view cutover::admin::FUNCTION()` (declared in
# HEADER) as INPUT's bytes, so the binary serves INPUT with no file to look up at run time.
file(READ "${INPUT}" text)
set(delimiter "cutover_embedded")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter )${delimiter}\"")
endif()
file(WRITE "${OUTPUT}.tmp"
     "// Generated from ${INPUT} by admin/embed_text.cmake; do not edit.\n"
     "#include \"${HEADER}\"\n\n"
     "namespace cutover::admin {\n\n"
     "std::string_view ${FUNCTION}() {\n"
     "  static constexpr char kText[] = R\"${delimiter}(${text})${delimiter}\";\n"
     "  return {kText, sizeof kText - 1};\n"
     "}\n\n"
     "}  // namespace cutover::admin\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
