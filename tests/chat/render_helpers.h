// Shared helpers of the chat-template unit tests.
#pragma once

#include <graft/chat/template.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace graft::chat::testing {

// Renders `source` with the members of `variables` (a JSON object literal) as variables.
inline std::string render(std::string_view source, std::string_view variables = "{}") {
    Context context;
    context.set_all(boost::json::parse(variables).as_object());
    return Template(source, "test").render(context);
}

// The TemplateError a compile or render of `source` throws; fails the test when none is.
inline TemplateError render_error(std::string_view source, std::string_view variables = "{}") {
    try {
        render(source, variables);
    } catch (const TemplateError &e) {
        return e;
    }
    ADD_FAILURE() << "no error rendering: " << source;
    return TemplateError("test", 0, 0, "", false);
}

} // namespace graft::chat::testing
