# SPDX-License-Identifier: GPL-3.0-or-later
# FindXmlrpcC: xmlrpc-c (C++ client with the libcurl transport, and the Abyss server).
#
# xmlrpc-c ships no pkg-config file; its xmlrpc-c-config script knows the libraries. Defines
# the imported targets XmlrpcC::client (c++2 client) and XmlrpcC::server (c++2 abyss-server).
find_program(XMLRPCC_CONFIG xmlrpc-c-config)
find_path(XMLRPCC_INCLUDE_DIR xmlrpc-c/base.hpp)

function(_xmlrpcc_target target)
  execute_process(COMMAND ${XMLRPCC_CONFIG} c++2 ${ARGN} --libs
                  OUTPUT_VARIABLE libs OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    return()
  endif()
  separate_arguments(libs UNIX_COMMAND "${libs}")
  # Link the xmlrpc-c libraries themselves. Their own dependencies (-lcurl, ...) come with the
  # shared libraries; the script lists them for static linking, and Debian installs libcurl
  # without its development symlink when only xmlrpc-c's -dev packages are present.
  set(found "")
  foreach(flag ${libs})
    if(flag MATCHES "^-l(xmlrpc.*)$")
      find_library(XMLRPCC_LIB_${CMAKE_MATCH_1} ${CMAKE_MATCH_1})
      if(XMLRPCC_LIB_${CMAKE_MATCH_1})
        list(APPEND found ${XMLRPCC_LIB_${CMAKE_MATCH_1}})
      endif()
    endif()
  endforeach()
  add_library(${target} INTERFACE IMPORTED)
  target_include_directories(${target} INTERFACE ${XMLRPCC_INCLUDE_DIR})
  target_link_libraries(${target} INTERFACE ${found} Threads::Threads)
endfunction()

if(XMLRPCC_CONFIG AND XMLRPCC_INCLUDE_DIR)
  execute_process(COMMAND ${XMLRPCC_CONFIG} --version OUTPUT_VARIABLE XmlrpcC_VERSION
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT TARGET XmlrpcC::client)
    _xmlrpcc_target(XmlrpcC::client client)
    _xmlrpcc_target(XmlrpcC::server abyss-server)
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(XmlrpcC REQUIRED_VARS XMLRPCC_CONFIG XMLRPCC_INCLUDE_DIR
                                  VERSION_VAR XmlrpcC_VERSION)
