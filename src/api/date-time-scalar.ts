/**
 * The `DateTimeISO` scalar without graphql-scalars: schema-first servers must not need the optional
 * peer that only type-graphql needs.
 */
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

/**
 * `DateTimeISO` for schema-first servers, which must work without graphql-scalars (an optional
 * peer that only type-graphql needs). The session API only ever outputs dates, so this is
 * graphql-scalars' `DateTimeISO` output format (an ISO 8601 string in UTC with milliseconds);
 * as input it accepts the same strings, refusing anything that is not a valid date-time.
 */
export const DateTimeISO = new GraphQLScalarType<Date, string>({
  name: 'DateTimeISO',
  description:
    'A date-time string at UTC, such as 2007-12-03T10:15:30Z, compliant with the `date-time` format outlined in section 5.6 of the RFC 3339 profile of the ISO 8601 standard for representation of dates and times using the Gregorian calendar.This scalar is serialized to a string in ISO 8601 format and parsed from a string in ISO 8601 format.',
  serialize(value) {
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTimeISO cannot represent an invalid date.');
    return date.toISOString();
  },
  parseValue(value) {
    return parseDate(value);
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTimeISO expects a string.');
    return parseDate(ast.value);
  },
});

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

function parseDate(value: unknown): Date {
  const date = typeof value === 'string' && RFC3339.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTimeISO expects an RFC 3339 date-time string.');
  return date;
}
