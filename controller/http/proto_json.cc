#include "controller/http/proto_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gantry::http {

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;
  std::string json;
  auto st = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!st.ok()) return "{}";
  return json;
}

absl::Status FromJson(const std::string& json, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(json, message, options);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("request body is not a ",
                                                   message->GetDescriptor()->name(), ": ",
                                                   std::string(st.message())));
  }
  return absl::OkStatus();
}

absl::Status SetField(google::protobuf::Message* message, const std::string& name,
                      const std::string& value) {
  using FD = google::protobuf::FieldDescriptor;
  const auto* desc = message->GetDescriptor();
  const FD* field = desc->FindFieldByName(name);
  for (int i = 0; field == nullptr && i < desc->field_count(); ++i) {
    if (desc->field(i)->json_name() == name) field = desc->field(i);
  }
  if (field == nullptr || field->is_repeated() || field->is_map()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown parameter '", name, "'"));
  }
  const auto* refl = message->GetReflection();
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", name, "': '", value, "' is not a ", field->type_name()));
  };
  switch (field->cpp_type()) {
    case FD::CPPTYPE_STRING:
      refl->SetString(message, field, value);
      return absl::OkStatus();
    case FD::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad();
      refl->SetInt64(message, field, v);
      return absl::OkStatus();
    }
    case FD::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad();
      refl->SetInt32(message, field, v);
      return absl::OkStatus();
    }
    case FD::CPPTYPE_BOOL: {
      bool v;
      if (!absl::SimpleAtob(value, &v)) return bad();
      refl->SetBool(message, field, v);
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", name, "' cannot be given in the URL"));
  }
}

}  // namespace gantry::http
